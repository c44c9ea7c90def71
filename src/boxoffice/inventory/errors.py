from boxoffice.kit.errors import Conflict, NotFound, Unprocessable


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


class UnblockNeedsUnits(Unprocessable):
    code = "unblock_needs_units"
    title = "Name the seats or units to put back on sale (seat_ids or unit_ids)"
