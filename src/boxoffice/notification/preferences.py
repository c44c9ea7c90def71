"""Which channels each notification kind uses by default, and a user's choices on top."""

from boxoffice.notification.models import Channel, NotificationKind

_EMAIL_OFF_BY_DEFAULT = {
    NotificationKind.new_event,
    NotificationKind.announcement,
    NotificationKind.waitlist_offer_expired,
}

DEFAULTS: dict[NotificationKind, dict[Channel, bool]] = {
    kind: {Channel.in_app: True, Channel.email: kind not in _EMAIL_OFF_BY_DEFAULT}
    for kind in NotificationKind
}

REQUIRED = {(NotificationKind.tickets_requested, Channel.email)}
"""Sent whatever the preferences say: the person asked for this very message (their
tickets, by `POST /api/users/me/tickets/email`); it cannot be turned off."""


def effective(stored: dict[str, dict[str, bool]] | None) -> dict[str, dict[str, bool]]:
    """The full kinds x channels matrix: the defaults, overridden by what the user stored."""
    stored = stored or {}
    return {
        kind.value: {
            channel.value: (kind, channel) in REQUIRED
            or stored.get(kind.value, {}).get(channel.value, default)
            for channel, default in channels.items()
        }
        for kind, channels in DEFAULTS.items()
    }


def wants(
    stored: dict[str, dict[str, bool]] | None, kind: NotificationKind, channel: Channel
) -> bool:
    return effective(stored)[kind.value][channel.value]
