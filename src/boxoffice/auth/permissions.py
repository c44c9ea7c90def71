"""The one permission table: which role may do what. Every endpoint asks it.

Ownership (a buyer's own bookings, an organizer's own events) is checked on top of this
by the service that loads the resource.
"""

import enum
import uuid

from boxoffice.auth.models import Role, User


class Permission(enum.StrEnum):
    catalog_read_drafts = "catalog:read-drafts"
    """See unpublished events (own ones for organizers, all for editors and admins)."""
    venue_manage = "venue:manage"
    event_manage = "event:manage"
    event_manage_any = "event:manage-any"
    """Edit events and venues of any organizer (admins). Editors: only organizers that
    granted them (`users.managed_organizer_ids`)."""
    booking_read_any = "booking:read-any"
    booking_manage_any = "booking:manage-any"
    user_read_any = "user:read-any"
    """List and read any user's account (admin user management)."""
    user_manage = "user:manage"
    """Change a user's role, deactivate, reactivate or delete them."""

    payment_read_any = "payment:read-any"
    payment_refund_any = "payment:refund-any"
    """Refund any payment (admin-initiated refunds, seed 004)."""
    coupon_manage = "coupon:manage"
    """Create and edit coupons for one's own events."""
    coupon_manage_any = "coupon:manage-any"
    """Create and edit coupons of any organizer, or for every event."""
    analytics_read = "analytics:read"
    """See analytics and system statistics of everything."""
    analytics_read_own = "analytics:read-own"
    """See analytics of one's own events."""
    audit_read_any = "audit:read-any"
    """Read the whole audit log."""
    audit_read_own = "audit:read-own"
    """Read the audit log of one's own events, venues and coupons (editors: granted ones)."""


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.buyer: frozenset(),
    Role.organizer: frozenset(
        {
            Permission.catalog_read_drafts,
            Permission.venue_manage,
            Permission.event_manage,
            Permission.coupon_manage,
            Permission.analytics_read_own,
            Permission.audit_read_own,
        }
    ),
    Role.editor: frozenset(
        {
            Permission.catalog_read_drafts,
            Permission.venue_manage,
            Permission.event_manage,
            Permission.coupon_manage,
            Permission.coupon_manage_any,
            Permission.analytics_read_own,
            Permission.audit_read_own,
        }
    ),
    Role.admin: frozenset(Permission),
}


def has_permission(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]


def manages_organizer(user: User, organizer_id: uuid.UUID | None) -> bool:
    """May `user` manage the venues and events owned by `organizer_id`?

    The organizer themself; editors the organizers that granted them; admins everyone.
    """
    if has_permission(user.role, Permission.event_manage_any):
        return True
    if organizer_id is None:
        return False
    if user.id == organizer_id:
        return True
    return user.role is Role.editor and organizer_id in (user.managed_organizer_ids or ())
