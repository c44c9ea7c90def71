"""event fee changes: what an event's booking fees were before each change

Revision ID: 0028
Revises: 0027
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | Sequence[str] | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("events", sa.Column("fees_changed_at", sa.DateTime(timezone=True)))
    op.create_table(
        "event_fee_changes",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("previous_fee_percent_bp", sa.Integer(), nullable=False),
        sa.Column("previous_fee_per_ticket_minor", sa.BigInteger(), nullable=False),
        sa.Column("previous_fee_per_order_minor", sa.BigInteger(), nullable=False),
        sa.Column("changed_by", sa.UUID(), nullable=True),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["changed_by"], ["users.id"], name=op.f("fk_event_fee_changes_changed_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_event_fee_changes_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_fee_changes")),
    )
    op.create_index(
        op.f("ix_event_fee_changes_event_id_changed_at"),
        "event_fee_changes",
        ["event_id", "changed_at"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_event_fee_changes_event_id_changed_at"), "event_fee_changes")
    op.drop_table("event_fee_changes")
    op.drop_column("events", "fees_changed_at")
