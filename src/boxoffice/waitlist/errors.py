from boxoffice.kit.errors import Conflict, NotFound


class EntryNotFound(NotFound):
    code = "waitlist_entry_not_found"
    title = "Waitlist entry not found"


class EntryClosed(Conflict):
    code = "waitlist_entry_closed"
    title = "The waitlist entry was already left, accepted or expired"
