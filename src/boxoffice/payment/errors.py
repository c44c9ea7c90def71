from boxoffice.kit.errors import BadRequest, BoxofficeError, Conflict, NotFound, Unprocessable


class PaymentNotFound(NotFound):
    code = "payment_not_found"
    title = "No such payment"


class UnknownProvider(NotFound):
    code = "unknown_provider"
    title = "This payment provider is not the one configured"


class InvalidWebhookSignature(BadRequest):
    code = "invalid_signature"
    title = "The signature does not verify"


class MalformedWebhookBody(BadRequest):
    code = "malformed_webhook"
    title = "The webhook body is not what the provider sends"


class IllegalPaymentTransition(Conflict):
    code = "illegal_payment_transition"
    title = "The payment cannot move to that status"


class PaymentNotRefundable(Conflict):
    code = "payment_not_refundable"
    title = "Only a succeeded payment can be refunded"


class RefundExceedsPayment(Unprocessable):
    code = "refund_exceeds_payment"
    title = "The refund is larger than what is left of the payment"


class AmountMismatch(Unprocessable):
    code = "amount_mismatch"
    title = "The amount sent differs from the amount due"


class CurrencyMismatch(Unprocessable):
    code = "currency_mismatch"
    title = "The currency differs from the one of the amount due"


class RefundWindowClosed(Unprocessable):
    code = "refund_window_closed"
    title = "Refunds are no longer possible for this showtime"


class PartialRefundNotAllowed(Unprocessable):
    code = "partial_refund_not_allowed"
    title = "This booking can only be refunded as a whole"


class PaymentProviderFailed(BoxofficeError):
    status = 502
    code = "payment_provider_error"
    title = "The payment provider refused or could not be reached"


class PaymentProviderNotConfigured(BoxofficeError):
    status = 503
    code = "payment_provider_not_configured"
    title = "The payment provider is missing its keys"


class BookingNotRefundable(Conflict):
    code = "booking_not_refundable"
    title = "Only a paid, confirmed booking can be refunded"


class UnknownTickets(Unprocessable):
    code = "unknown_tickets"
    title = "Some ticket ids are not live tickets of this booking"
