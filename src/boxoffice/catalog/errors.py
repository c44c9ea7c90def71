from boxoffice.kit.errors import Conflict, Forbidden, NotFound, Unprocessable


class EventNotFound(NotFound):
    code = "event_not_found"
    title = "No such event"


class ShowtimeNotFound(NotFound):
    code = "showtime_not_found"
    title = "No such showtime"


class NotEventOwner(Forbidden):
    code = "not_event_owner"
    title = "Only the event's organizer, an editor or an admin may change it"


class InvalidEventTransition(Conflict):
    code = "invalid_status_transition"
    title = "The event cannot move to that status from its current one"


class EventCancelled(Conflict):
    code = "event_cancelled"
    title = "The event is cancelled and can no longer change"


class EventHasNoShowtimes(Conflict):
    code = "event_has_no_showtimes"
    title = "Add a showtime before publishing the event"


class EventHasSales(Conflict):
    code = "event_has_sales"
    title = "Tickets were sold or are held for this event; cancel it instead of deleting it"


class InvalidPriceTiers(Unprocessable):
    code = "invalid_price_tiers"
    title = "Price tiers must name each section of the venue exactly once"


class VenueHasNoPlaces(Unprocessable):
    code = "venue_has_no_places"
    title = "The venue has no sections to sell; add one first"


class LocationRequired(Unprocessable):
    code = "location_required"
    title = "Give city_name, or latitude and longitude, or post your location first"


class ShowtimeCancelled(Conflict):
    code = "showtime_cancelled"
    title = "The showtime is cancelled and can no longer change"


class ShowtimeStarted(Conflict):
    code = "showtime_started"
    title = "The showtime has started; its times can no longer change"


class InvalidShowtimeTimes(Unprocessable):
    code = "invalid_showtime_times"
    title = "A showtime must start in the future and end after it starts"


class PriceTierNotFound(NotFound):
    code = "price_tier_not_found"
    title = "The showtime has no such price tier"


class PresaleInvalid(Unprocessable):
    code = "presale_invalid"
    title = "A presale needs a later general sale (sale_starts_at) and at least one code"
