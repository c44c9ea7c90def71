from datetime import UTC, datetime


def utcnow() -> datetime:
    """Timezone-aware now in UTC (the only clock the code reads)."""
    return datetime.now(UTC)
