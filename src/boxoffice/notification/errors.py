from boxoffice.kit.errors import Conflict, NotFound, Unprocessable


class NotificationNotFound(NotFound):
    code = "notification_not_found"
    title = "Notification not found"


class OrganizerNotFound(NotFound):
    code = "organizer_not_found"
    title = "Organizer not found"


class EventNotFound(NotFound):
    code = "event_not_found"
    title = "Event not found"


class ShowtimeNotFound(NotFound):
    code = "showtime_not_found"
    title = "Showtime not found"


class UserNotFound(NotFound):
    code = "user_not_found"
    title = "User not found"


class WebhookNotFound(NotFound):
    code = "webhook_not_found"
    title = "Webhook endpoint not found"


class WebhookUrlRefused(Unprocessable):
    code = "webhook_url_refused"
    title = "This URL cannot receive webhooks"


class PreferenceRequired(Unprocessable):
    code = "preference_required"
    title = "This notification cannot be turned off"


class WebhookDeliveryNotFound(NotFound):
    code = "webhook_delivery_not_found"
    title = "Webhook delivery not found"


class WebhookInactive(Conflict):
    code = "webhook_inactive"
    title = "This webhook endpoint is switched off"


class WebhookDeliveryPending(Conflict):
    code = "webhook_delivery_pending"
    title = "This delivery is already waiting to be sent"
