"""ticket codes computed from the ticket secret, no longer stored

A stored code let whoever could read the database (a backup, a replica, a reporting login)
walk in on any ticket. The code is an HMAC of the ticket id, its unit and its version under
the ticket secret, so the application computes it whenever it shows one.

Revision ID: 0025
Revises: 0024
"""

import base64
import hashlib
import hmac
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from boxoffice.config import get_settings

revision: str = "0025"
down_revision: str | Sequence[str] | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_column("tickets", "code")


def downgrade() -> None:
    # The earlier code reads each ticket's code from the row: write every ticket's current
    # code back, signed as `booking.tickets.ticket_code` signs it (written out here, so this
    # revision keeps working whatever that module becomes), with the key configured now.
    op.add_column("tickets", sa.Column("code", sa.String(length=128), nullable=True))
    settings = get_settings()
    secret = settings.booking.ticket_secret or settings.auth.jwt_secret
    key = hashlib.sha256(b"boxoffice-ticket:" + secret.get_secret_value().encode()).digest()
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, unit_id, code_version FROM tickets")).all()
    if rows:
        bind.execute(
            sa.text("UPDATE tickets SET code = :code WHERE id = :id"),
            [
                {"id": row.id, "code": _code(key, row.id, row.unit_id, row.code_version)}
                for row in rows
            ],
        )
    op.alter_column("tickets", "code", nullable=False)
    op.create_unique_constraint(op.f("uq_tickets_code"), "tickets", ["code"])


def _code(key: bytes, ticket_id: uuid.UUID, unit_id: int, version: int) -> str:
    message = f"{ticket_id}:{unit_id}" + (f":{version}" if version else "")
    digest = hmac.new(key, message.encode(), hashlib.sha256).digest()[:16]
    signature = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return f"{ticket_id.hex}.{signature}"
