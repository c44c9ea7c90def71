from boxoffice.kit.errors import Forbidden, NotFound, Unprocessable


class InvalidDateRange(Unprocessable):
    code = "invalid_date_range"
    title = "The date range is invalid"


class AnalyticsEventNotFound(NotFound):
    code = "event_not_found"
    title = "No such event"


class OrganizerScopeDenied(Forbidden):
    code = "organizer_scope_denied"
    title = "Organizers may only see analytics of their own events"
