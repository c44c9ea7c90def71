from boxoffice.kit.errors import Conflict, NotFound


class SeatsUnavailable(Conflict):
    code = "seats_unavailable"
    title = "Some of the requested seats are no longer available"


class SoldOut(Conflict):
    code = "sold_out"
    title = "Not enough places left"


class ShowtimeNotFound(NotFound):
    code = "showtime_not_found"
    title = "Showtime not found"


class SectionNotFound(NotFound):
    code = "section_not_found"
    title = "Section not found in this showtime"
