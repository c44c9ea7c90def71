"""Set-based seeding of a large catalog: cities in regional clusters, a venue per city,
events with two showtimes each (at venues in different regions), one price tier each.

Everything is `INSERT ... SELECT ... generate_series`: no row-by-row round trips.
Inventory units are not created: the catalog reads measured here do not touch them.
"""

from typing import Any

ADJECTIVES = [
    "midnight",
    "golden",
    "electric",
    "silent",
    "velvet",
    "crimson",
    "cosmic",
    "urban",
    "wild",
    "frozen",
    "hidden",
    "lunar",
    "royal",
    "neon",
    "broken",
    "summer",
    "winter",
    "northern",
    "southern",
    "eternal",
]
NOUNS = [
    "symphony",
    "jazz",
    "comedy",
    "derby",
    "hamlet",
    "opera",
    "festival",
    "marathon",
    "quartet",
    "ballet",
    "circus",
    "summit",
    "rhapsody",
    "showdown",
    "carnival",
    "serenade",
    "odyssey",
    "cabaret",
    "tournament",
    "premiere",
]
ARTISTS = [
    "orchestra",
    "trio",
    "ensemble",
    "choir",
    "band",
    "quintet",
    "troupe",
    "collective",
    "players",
    "company",
]
CITY_HEADS = [
    "Bel",
    "Mar",
    "Sol",
    "Kin",
    "Dor",
    "Val",
    "Ash",
    "Lun",
    "Port",
    "Riv",
    "Ost",
    "Nor",
    "Hal",
    "Gran",
    "Tor",
]
CITY_TAILS = [
    "ford",
    "ton",
    "ville",
    "burg",
    "haven",
    "mouth",
    "field",
    "stead",
    "wick",
    "dale",
    "mere",
    "gate",
]
EVENT_TYPES = [
    "movie",
    "music",
    "sport",
    "standup",
    "theatre",
    "conference",
    "festival",
    "family",
    "other",
]
CITIES_PER_REGION = 10


def _array(words: tuple[str, ...] | list[str]) -> str:
    quoted = ",".join("'" + w.replace("'", "''") + "'" for w in words)
    return f"ARRAY[{quoted}]::text[]"


def seed_statements(*, events: int, cities: int) -> list[tuple[str, dict[str, Any]]]:
    """The seeding SQL, in order, with named parameters."""
    adjectives, nouns, artists = _array(ADJECTIVES), _array(NOUNS), _array(ARTISTS)
    heads, tails, types = _array(CITY_HEADS), _array(CITY_TAILS), _array(EVENT_TYPES)
    return [
        ("SELECT setseed(0.42)", {}),
        (
            "INSERT INTO users (email, full_name, role, is_active, token_version) "
            "VALUES ('bench-organizer@example.com', 'Bench Organizer', 'organizer', true, 0)",
            {},
        ),
        (
            # Regions spread over the globe; ten cities within ~60 km of each region's centre.
            f"""
            INSERT INTO cities (name, country, latitude, longitude, timezone)
            SELECT ({heads})[1 + i % {len(CITY_HEADS)}]
                   || ({tails})[1 + (i / 7) % {len(CITY_TAILS)}] || ' ' || i,
                   'ZZ',
                   -45 + ((i / {CITIES_PER_REGION}) * 37 % 100) + (random() - 0.5) * 0.8,
                   -170 + ((i / {CITIES_PER_REGION}) * 71 % 340) + (random() - 0.5) * 0.8,
                   'UTC'
              FROM generate_series(0, :cities - 1) AS i
            """,  # noqa: S608 - constant word lists only
            {"cities": cities},
        ),
        (
            """
            INSERT INTO venues (organizer_id, city_id, name, address, latitude, longitude,
                                timezone, description)
            SELECT u.id, c.id, 'Hall ' || c.name, '', c.latitude + 0.01, c.longitude + 0.01,
                   'UTC', ''
              FROM cities c CROSS JOIN users u WHERE u.email = 'bench-organizer@example.com'
            """,
            {},
        ),
        (
            "INSERT INTO sections (venue_id, name, kind, capacity, sort_order) "
            "SELECT id, 'Floor', 'general_admission', 500, 0 FROM venues",
            {},
        ),
        (
            "CREATE TEMP TABLE bench_venues AS SELECT row_number() OVER (ORDER BY v.name) - 1"
            " AS k, v.id, v.name, c.name AS city FROM venues v JOIN cities c ON c.id = v.city_id",
            {},
        ),
        (
            """
            CREATE TEMP TABLE bench_plan AS
            SELECT i, gen_random_uuid() AS id,
                   (i * 31) % :cities AS v1, (i * 31 + 97) % :cities AS v2
              FROM generate_series(1, :events) AS i
            """,
            {"events": events, "cities": cities},
        ),
        (
            f"""
            INSERT INTO events (id, organizer_id, title, description, event_type, status,
                                images, metadata, sale_starts_at, hold_ttl_seconds,
                                max_tickets_per_booking, published_at, search_places,
                                created_at, updated_at)
            SELECT p.id, u.id,
                   initcap(({adjectives})[1 + p.i % {len(ADJECTIVES)}]) || ' '
                     || initcap(({nouns})[1 + (p.i / 20) % {len(NOUNS)}]) || ' ' || p.i,
                   'A ' || ({adjectives})[1 + (p.i / 400) % {len(ADJECTIVES)}] || ' evening of '
                     || ({nouns})[1 + (p.i / 7) % {len(NOUNS)}] || ' with the '
                     || ({artists})[1 + p.i % {len(ARTISTS)}],
                   ({types})[1 + p.i % {len(EVENT_TYPES)}],
                   CASE WHEN p.i % 23 = 0 THEN 'draft' ELSE 'published' END,
                   '[]', '{{}}', now() - interval '1 day', 600, 10, now(),
                   v1.city || ' ' || v1.name || ' ' || v2.city || ' ' || v2.name,
                   now() - make_interval(secs => p.i), now()
              FROM bench_plan p
              JOIN bench_venues v1 ON v1.k = p.v1
              JOIN bench_venues v2 ON v2.k = p.v2
             CROSS JOIN users u WHERE u.email = 'bench-organizer@example.com'
            """,  # noqa: S608 - constant word lists only
            {},
        ),
        (
            "INSERT INTO search_terms (word) SELECT DISTINCT word"
            " FROM events, unnest(tsvector_to_array(search_vector)) AS word"
            " WHERE word !~ '^[0-9]+$' ON CONFLICT DO NOTHING",
            {},
        ),
        (
            """
            INSERT INTO showtimes (event_id, venue_id, starts_at, ends_at, status)
            SELECT p.id, v.id, t.starts_at, t.starts_at + interval '2 hours', 'scheduled'
              FROM bench_plan p
             CROSS JOIN generate_series(0, 1) AS d
              JOIN bench_venues v ON v.k = CASE WHEN d = 0 THEN p.v1 ELSE p.v2 END
             CROSS JOIN LATERAL (SELECT date_trunc('hour', now())
                   + make_interval(days => 1 + (p.i + d * 17) % 90, hours => p.i % 12)
                   AS starts_at) AS t
            """,
            {},
        ),
        (
            """
            INSERT INTO price_tiers (showtime_id, section_id, name, price_minor, currency)
            SELECT s.id, sec.id, 'General', 500 + (abs(hashtext(s.id::text)) % 20000), 'USD'
              FROM showtimes s JOIN sections sec ON sec.venue_id = s.venue_id
            """,
            {},
        ),
    ]


async def seed(connection: Any, *, events: int, cities: int) -> None:
    """Seed through an asyncpg connection (named parameters are bound positionally)."""
    from bench.catalog.sql import to_asyncpg

    async with connection.transaction():
        for sql, params in seed_statements(events=events, cities=cities):
            statement, args = to_asyncpg(sql, params)
            await connection.execute(statement, *args)
    await connection.execute("ANALYZE")
