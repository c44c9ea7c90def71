import contextlib
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def utcnow() -> datetime:
    """Timezone-aware now in UTC (the only clock the code reads)."""
    return datetime.now(UTC)


def for_people(instant: datetime, zone: str | None = None) -> str:
    """An instant as a person reads it, `Sat 5 Dec 2026, 19:30 CET`: in `zone` (an IANA
    name, the venue's) when given and known, else in the instant's own offset."""
    if zone:
        with contextlib.suppress(ZoneInfoNotFoundError, ValueError):
            instant = instant.astimezone(ZoneInfo(zone))
    return f"{instant:%a} {instant.day} {instant:%b %Y, %H:%M} {instant.tzname() or 'UTC'}"
