"""Every table, imported in one place so Alembic and tests see the whole schema."""

import boxoffice.audit.models
import boxoffice.auth.models
import boxoffice.booking.models
import boxoffice.catalog.models
import boxoffice.coupon.models
import boxoffice.demo.models
import boxoffice.inventory.models
import boxoffice.kit.idempotency
import boxoffice.kit.jobs
import boxoffice.kit.outbox
import boxoffice.notification.models
import boxoffice.payment.models
import boxoffice.review.models
import boxoffice.venue.models
import boxoffice.waitlist.models  # noqa: F401 - imported for their tables
from boxoffice.db.base import Base

__all__ = ["Base"]
