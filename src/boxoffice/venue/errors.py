from boxoffice.kit.errors import Conflict, Forbidden, NotFound, Unprocessable


class CityNotFound(NotFound):
    code = "city_not_found"
    title = "No such city"


class CityExists(Conflict):
    code = "city_exists"
    title = "A city with this name is already listed in this country"


class VenueNotFound(NotFound):
    code = "venue_not_found"
    title = "No such venue"


class NotVenueOwner(Forbidden):
    code = "not_venue_owner"
    title = "Only the venue's organizer, an editor or an admin may change it"


class VenueLayoutLocked(Conflict):
    code = "venue_layout_locked"
    title = "A showtime at this venue has sales; its layout can no longer change"


class VenueLayoutInUse(Conflict):
    code = "venue_layout_in_use"
    title = "Showtimes use this venue's sections; add sections instead, or remove the showtimes"


class SectionExists(Conflict):
    code = "section_exists"
    title = "The venue already has a section with this name"


class InvalidLayout(Unprocessable):
    code = "invalid_layout"
    title = "The seat layout is not valid"
