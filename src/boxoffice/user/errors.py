from boxoffice.kit.errors import Conflict, Forbidden, NotFound


class UserNotFound(NotFound):
    code = "user_not_found"
    title = "No such user"


class CannotModifySelf(Conflict):
    code = "cannot_modify_self"
    title = "Admins cannot demote, deactivate or delete their own account"


class UserDeleted(Conflict):
    code = "user_deleted"
    title = "This account was deleted"


class NotAnEditor(Conflict):
    code = "not_an_editor"
    title = "Catalog grants can only be given to editors"


class NotAnOrganizer(Conflict):
    code = "not_an_organizer"
    title = "Only an organizer's own catalog can be granted"


class SelfDeletionNotAllowed(Forbidden):
    code = "self_deletion_not_allowed"
    title = "Organizer and staff accounts own business records; an admin deletes them"


class AccountHasTickets(Conflict):
    code = "account_has_tickets"
    title = "You hold tickets for showtimes still to come; cancel or give them away first"
