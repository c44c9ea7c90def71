"""catalog: search columns and indexes, geo indexes, user locations, reviews

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 04:14:09.470409
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "search_terms",
        sa.Column("word", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("word", name=op.f("pk_search_terms")),
    )
    op.create_index(
        "ix_search_terms_word_trgm",
        "search_terms",
        ["word"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={"word": "gist_trgm_ops"},
    )

    op.create_table(
        "user_locations",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_locations_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_locations")),
    )
    op.create_table(
        "reviews",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name=op.f("ck_reviews_rating_range")),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_reviews_event_id_events"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_reviews_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
        sa.UniqueConstraint("event_id", "user_id", name=op.f("uq_reviews_event_id_user_id")),
    )
    op.create_index(
        "ix_reviews_event_id_created_at", "reviews", ["event_id", "created_at"], unique=False
    )
    op.create_index(op.f("ix_reviews_user_id"), "reviews", ["user_id"], unique=False)
    op.create_index(
        "ix_cities_earth",
        "cities",
        [sa.literal_column("ll_to_earth(latitude, longitude)")],
        unique=False,
        postgresql_using="gist",
    )
    op.create_index(
        "ix_cities_name_trgm",
        "cities",
        ["name"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    )
    op.add_column(
        "events", sa.Column("search_places", sa.Text(), server_default="", nullable=False)
    )
    op.add_column(
        "events",
        sa.Column(
            "search_vector",
            postgresql.TSVECTOR(),
            sa.Computed(
                "(((setweight(to_tsvector('simple'::regconfig, (title)::text), 'A'::\"char\") || setweight(to_tsvector('simple'::regconfig, search_places), 'B'::\"char\")) || setweight(to_tsvector('simple'::regconfig, (event_type)::text), 'B'::\"char\")) || setweight(to_tsvector('simple'::regconfig, description), 'C'::\"char\"))",
                persisted=True,
            ),
            nullable=True,
        ),
    )
    op.create_index(
        "ix_events_search_vector", "events", ["search_vector"], unique=False, postgresql_using="gin"
    )
    op.create_index("ix_events_status_event_type", "events", ["status", "event_type"], unique=False)
    op.create_index("ix_showtimes_starts_at", "showtimes", ["starts_at"], unique=False)
    op.create_index(
        "ix_venues_earth",
        "venues",
        [sa.literal_column("ll_to_earth(latitude, longitude)")],
        unique=False,
        postgresql_using="gist",
    )


def downgrade() -> None:
    op.drop_index("ix_search_terms_word_trgm", table_name="search_terms")
    op.drop_table("search_terms")

    op.drop_index("ix_venues_earth", table_name="venues", postgresql_using="gist")
    op.drop_index("ix_showtimes_starts_at", table_name="showtimes")
    op.drop_index("ix_events_status_event_type", table_name="events")
    op.drop_index("ix_events_search_vector", table_name="events", postgresql_using="gin")
    op.drop_column("events", "search_vector")
    op.drop_column("events", "search_places")
    op.drop_index(
        "ix_cities_name_trgm",
        table_name="cities",
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    )
    op.drop_index("ix_cities_earth", table_name="cities", postgresql_using="gist")
    op.drop_index(op.f("ix_reviews_user_id"), table_name="reviews")
    op.drop_index("ix_reviews_event_id_created_at", table_name="reviews")
    op.drop_table("reviews")
    op.drop_table("user_locations")
