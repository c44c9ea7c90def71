"""Helpers for plain substring search in SQL."""


def contains_pattern(text: str) -> str:
    """An `ILIKE ... ESCAPE '\\'` pattern matching `text` anywhere, taken literally (a `%`
    or `_` typed by a user is not a wildcard)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
