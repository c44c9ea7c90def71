"""How amounts and instants read in messages to people."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from boxoffice.kit.money import format_minor, to_minor
from boxoffice.kit.time import for_people
from boxoffice.notification.models import NotificationKind
from boxoffice.notification.templates import render


class TestAmounts:
    @pytest.mark.parametrize(
        ("minor", "currency", "shown"),
        [
            (1250, "USD", "12.50 USD"),
            (5, "EUR", "0.05 EUR"),
            (0, "GBP", "0.00 GBP"),
            (5000, "JPY", "5000 JPY"),
            (1250, "KWD", "1.250 KWD"),
            (10**12, "USD", "10000000000.00 USD"),
            (1250, "usd", "12.50 USD"),
        ],
    )
    def test_in_the_currency_s_own_units(self, minor: int, currency: str, shown: str) -> None:
        assert format_minor(minor, currency) == shown

    def test_and_back(self) -> None:
        assert to_minor(Decimal("50"), "JPY") == 50
        assert to_minor(Decimal("1.25"), "KWD") == 1250
        assert to_minor(Decimal("0.5"), "JPY") is None

    def test_a_notification_shows_yen_as_yen(self) -> None:
        rendered = render(
            NotificationKind.refund_issued,
            {"event_title": "Kabuki", "amount_minor": 5000, "currency": "JPY"},
        )

        assert rendered.text.startswith("We refunded 5000 JPY")


class TestInstants:
    def test_in_the_venue_s_time_zone(self) -> None:
        winter = datetime(2026, 12, 5, 18, 30, tzinfo=UTC)
        summer = datetime(2026, 7, 4, 23, 0, tzinfo=UTC)

        assert for_people(winter, "Europe/Berlin") == "Sat 5 Dec 2026, 19:30 CET"
        assert for_people(summer, "America/New_York") == "Sat 4 Jul 2026, 19:00 EDT"
        assert for_people(winter, "Asia/Kolkata") == "Sun 6 Dec 2026, 00:00 IST"

    def test_else_in_the_offset_it_carries(self) -> None:
        offset = datetime(2026, 12, 1, 19, 30, tzinfo=timezone(timedelta(hours=1)))

        assert for_people(offset) == "Tue 1 Dec 2026, 19:30 UTC+01:00"
        assert for_people(datetime(2026, 12, 1, 9, 5, tzinfo=UTC)) == "Tue 1 Dec 2026, 09:05 UTC"
        assert for_people(offset, "Not/AZone") == "Tue 1 Dec 2026, 19:30 UTC+01:00"

    def test_a_reminder_reads_the_venue_s_clock_and_keeps_iso_in_its_data(self) -> None:
        data = {
            "event_title": "Hamlet",
            "venue_name": "Globe",
            "starts_at": "2026-12-05T19:30:00+00:00",
        }

        rendered = render(NotificationKind.showtime_reminder, data, "Europe/London")

        assert rendered.title == "Reminder: Hamlet at Sat 5 Dec 2026, 19:30 GMT"
        assert data["starts_at"] == "2026-12-05T19:30:00+00:00"

    def test_what_is_not_an_instant_is_left_as_it_came(self) -> None:
        rendered = render(
            NotificationKind.showtime_reminder,
            {"event_title": "Hamlet", "venue_name": "Globe", "starts_at": "tonight"},
        )

        assert rendered.title == "Reminder: Hamlet at tonight"
