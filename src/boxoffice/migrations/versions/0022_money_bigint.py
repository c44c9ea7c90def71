"""money columns as BIGINT: prices, payments, refunds, redemptions, refund fees

Prices are validated up to 10^12 minor units, and a booking's total (already BIGINT) is a
sum of them; the INTEGER columns beside it overflowed at 2^31 (21 million in a two-decimal
currency), which answered a large but valid price with a 500.

Revision ID: 0022
Revises: 0021
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | Sequence[str] | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("events", "refund_fee_fixed_minor"),
    ("price_tiers", "price_minor"),
    ("price_tier_changes", "previous_price_minor"),
    ("price_tier_changes", "price_minor"),
    ("payments", "amount_minor"),
    ("payments", "refunded_minor"),
    ("refunds", "amount_minor"),
    ("coupon_redemptions", "amount_minor"),
)


def upgrade() -> None:
    for table, column in COLUMNS:
        op.alter_column(table, column, type_=sa.BigInteger(), existing_type=sa.Integer())


def downgrade() -> None:
    for table, column in COLUMNS:
        op.alter_column(table, column, type_=sa.Integer(), existing_type=sa.BigInteger())
