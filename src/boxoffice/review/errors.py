from boxoffice.kit.errors import Conflict, NotFound


class ReviewNotFound(NotFound):
    code = "review_not_found"
    title = "No such review"


class ReviewExists(Conflict):
    code = "review_exists"
    title = "You already reviewed this event; edit your review instead"


class EventNotReviewable(Conflict):
    code = "event_not_reviewable"
    title = "Only published events can be reviewed"
