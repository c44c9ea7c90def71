from datetime import datetime

from boxoffice.kit.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    NotFound,
    PreconditionFailed,
    Unprocessable,
)


class HoldNotFound(NotFound):
    code = "hold_not_found"
    title = "Hold not found"


class HoldExpired(Gone):
    code = "hold_expired"
    title = "The hold has expired; its seats went back on sale"


class HoldNotActive(Conflict):
    code = "hold_not_active"
    title = "The hold was already released or turned into a booking"


class HoldLimitReached(Conflict):
    code = "hold_limit_reached"
    title = "You already hold seats for this showtime; release or book them first"


class HoldExtensionCapped(Conflict):
    code = "hold_extension_capped"
    title = "The hold cannot be extended any further"


class TicketCapExceeded(Unprocessable):
    code = "ticket_cap_exceeded"
    title = "Too many tickets for one booking"


class BuyerTicketLimitReached(Conflict):
    code = "buyer_ticket_limit_reached"
    title = "You already hold or booked as many tickets for this showtime as the event allows"


class SalesClosed(Forbidden):
    code = "sales_closed"
    title = "Tickets for this showtime are not on sale"


class PresaleCodeRequired(SalesClosed):
    code = "presale_code_required"
    title = "Only the presale is open: give its access code (access_code)"


class PresaleCodeInvalid(SalesClosed):
    code = "presale_code_invalid"
    title = "That is not an access code of this presale"


class ShowtimeRequired(Unprocessable):
    code = "showtime_ambiguous"
    title = "The event has several showtimes on sale; name one with showtime_id"


class NotPriced(Conflict):
    code = "not_priced"
    title = "A section of this hold has no price tier"


class BookingNotFound(NotFound):
    code = "booking_not_found"
    title = "Booking not found"


class BookingVersionConflict(Conflict):
    code = "booking_version_conflict"
    title = "The booking changed since you read it; reload and retry"


class BookingPreconditionFailed(PreconditionFailed):
    """The version sent in `If-Match` is no longer the booking's."""

    code = "booking_version_conflict"
    title = "The booking changed since you read it; reload and retry"


class IllegalTransition(Conflict):
    code = "illegal_transition"
    title = "The booking cannot make this change in its current state"


class BookingNotPayable(Conflict):
    code = "booking_not_payable"
    title = "The booking cannot be confirmed without a payment"


class BookingExpired(Gone):
    code = "booking_expired"
    title = "The booking expired and its seats were sold to someone else"


class UserNotFound(NotFound):
    code = "user_not_found"
    title = "User not found"


class TicketCodeInvalid(Unprocessable):
    code = "ticket_code_invalid"
    title = "Not a ticket code of ours: misread, altered, or for no ticket"


class TicketNotFound(NotFound):
    code = "ticket_not_found"
    title = "No such ticket for this showtime"


class TicketWrongShowtime(Conflict):
    code = "ticket_wrong_showtime"
    title = "The ticket is for another showtime"


class TicketNotIssued(Conflict):
    code = "ticket_not_issued"
    title = "The ticket's booking is not paid or confirmed yet"


class TicketVoid(Conflict):
    code = "ticket_void"
    title = "The ticket was cancelled or refunded"


class TicketAlreadyCheckedIn(Conflict):
    code = "ticket_already_checked_in"
    title = "The ticket was already admitted"

    def __init__(self, checked_in_at: datetime | None, *, seen: object = None) -> None:
        when = checked_in_at.isoformat() if checked_in_at is not None else None
        super().__init__(extra={"checked_in_at": when})
        self.seen = seen
        """The ticket as it stands, admission included (for a sync's report)."""


class TicketNotCheckedIn(Conflict):
    code = "ticket_not_checked_in"
    title = "The ticket has not been admitted"


class BookingCheckedIn(Conflict):
    code = "booking_checked_in"
    title = "Tickets of this booking were admitted at the door; it can no longer be cancelled"


class TicketCodeSuperseded(Conflict):
    code = "ticket_code_superseded"
    title = "The ticket was transferred since this code was issued; its new holder has the code"


class TicketTransfersNotAllowed(Conflict):
    code = "ticket_transfers_not_allowed"
    title = "The event does not allow tickets to be transferred"


class TicketTransferClosed(Conflict):
    code = "ticket_transfer_closed"
    title = "The showtime has started; its tickets can no longer be transferred"


class TransferOfferTokenInvalid(BadRequest):
    code = "transfer_offer_token_invalid"
    title = "Not a ticket offer token of ours: mistyped, altered, or for no offer"


class TransferOfferClosed(Conflict):
    code = "transfer_offer_closed"
    title = "The offer was claimed already, or its giver took it back"


class TransferOfferExpired(Gone):
    code = "transfer_offer_expired"
    title = "The showtime has started; the offered ticket can no longer be claimed"


class TransferOfferVoid(Conflict):
    code = "transfer_offer_void"
    title = "The ticket changed hands since it was offered; the offer no longer stands"


class TransferOfferNotFound(NotFound):
    code = "transfer_offer_not_found"
    title = "The ticket is not on offer"


class TransferToSelf(Unprocessable):
    code = "transfer_to_self"
    title = "The ticket is already yours"


class BookingTicketsTransferred(Conflict):
    code = "booking_tickets_transferred"
    title = "Tickets of this booking were transferred to others; it can no longer be cancelled"


class EmailVerificationRequired(Forbidden):
    code = "email_verification_required"
    title = "Verify your e-mail address before buying (POST /api/auth/email/request-verification)"
