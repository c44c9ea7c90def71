"""price tier changes: each change of a tier's price or name, with what it was before.

A booking made from an older hold pays what the hold was placed at (or less); the
newest change of a showtime's tiers is also the version that cached seat maps check to
show the new prices; and it is the audit trail of who changed prices when.

Revision ID: 0018
Revises: 0017
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "price_tier_changes",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("price_tier_id", sa.UUID(), nullable=False),
        sa.Column("previous_price_minor", sa.Integer(), nullable=False),
        sa.Column("price_minor", sa.Integer(), nullable=False),
        sa.Column("previous_name", sa.String(length=80), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("changed_by", sa.UUID(), nullable=True),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["price_tier_id"],
            ["price_tiers.id"],
            name=op.f("fk_price_tier_changes_price_tier_id_price_tiers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["changed_by"], ["users.id"], name=op.f("fk_price_tier_changes_changed_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_tier_changes")),
    )
    op.create_index(
        op.f("ix_price_tier_changes_price_tier_id_changed_at"),
        "price_tier_changes",
        ["price_tier_id", "changed_at"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_price_tier_changes_price_tier_id_changed_at"), "price_tier_changes")
    op.drop_table("price_tier_changes")
