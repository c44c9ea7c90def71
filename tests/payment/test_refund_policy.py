from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from boxoffice.payment.errors import PartialRefundNotAllowed, RefundWindowClosed
from boxoffice.payment.refund_policy import RefundPolicy, quote_refund

STARTS = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)


class TestQuote:
    def test_a_full_refund_before_the_cutoff_keeps_the_fees(self) -> None:
        policy = RefundPolicy(cutoff=timedelta(hours=24), fee_percent_bp=1000, fee_fixed_minor=100)

        quote = quote_refund(
            policy, [2500, 2500], [0, 1], starts_at=STARTS, now=STARTS - timedelta(days=2)
        )

        assert quote.paid_minor == 5000
        assert quote.fee_minor == 600
        assert quote.refundable_minor == 4400
        assert quote.full is True

    def test_one_ticket_of_several(self) -> None:
        quote = quote_refund(
            RefundPolicy(), [2500, 4000], [1], starts_at=STARTS, now=STARTS - timedelta(days=2)
        )

        assert (quote.refundable_minor, quote.ticket_count, quote.full) == (4000, 1, False)

    def test_after_the_cutoff_nothing_is_refundable(self) -> None:
        with pytest.raises(RefundWindowClosed):
            quote_refund(
                RefundPolicy(cutoff=timedelta(hours=24)),
                [2500],
                [0],
                starts_at=STARTS,
                now=STARTS - timedelta(hours=23),
            )

    def test_partial_refunds_can_be_forbidden(self) -> None:
        with pytest.raises(PartialRefundNotAllowed):
            quote_refund(
                RefundPolicy(allow_partial=False),
                [2500, 2500],
                [0],
                starts_at=STARTS,
                now=STARTS - timedelta(days=3),
            )

    def test_a_fee_larger_than_the_ticket_leaves_zero(self) -> None:
        quote = quote_refund(
            RefundPolicy(fee_fixed_minor=5000),
            [1000],
            [0],
            starts_at=STARTS,
            now=STARTS - timedelta(days=3),
        )

        assert (quote.fee_minor, quote.refundable_minor) == (1000, 0)

    @pytest.mark.parametrize("selected", [[], [0, 0], [5]])
    def test_a_bad_selection_is_refused(self, selected: list[int]) -> None:
        with pytest.raises(ValueError, match=r"select|range"):
            quote_refund(
                RefundPolicy(), [100, 200], selected, starts_at=STARTS, now=STARTS - timedelta(7)
            )

    @given(
        paid=st.lists(st.integers(0, 10**7), min_size=1, max_size=10),
        percent_bp=st.integers(0, 10_000),
        fixed=st.integers(0, 10**6),
    )
    def test_refundable_is_between_zero_and_what_was_paid(
        self, paid: list[int], percent_bp: int, fixed: int
    ) -> None:
        policy = RefundPolicy(fee_percent_bp=percent_bp, fee_fixed_minor=fixed)

        quote = quote_refund(
            policy, paid, list(range(len(paid))), starts_at=STARTS, now=STARTS - timedelta(7)
        )

        assert 0 <= quote.refundable_minor <= quote.paid_minor == sum(paid)
        assert quote.refundable_minor + quote.fee_minor == quote.paid_minor
