from dataclasses import asdict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from boxoffice.coupon.models import CouponKind
from boxoffice.payment.pricing import (
    FeePolicy,
    allocate,
    coupon_discount,
    percent_discount,
    price_breakdown,
)

prices = st.lists(st.integers(min_value=0, max_value=1_000_000), min_size=1, max_size=12)
fee_policies = st.builds(
    FeePolicy,
    percent_bp=st.integers(min_value=0, max_value=3_000),
    per_ticket_minor=st.integers(min_value=0, max_value=500),
    per_order_minor=st.integers(min_value=0, max_value=500),
)


class TestDiscounts:
    def test_percent_rounds_down(self) -> None:
        assert percent_discount(999, 10) == 99

    def test_fixed_is_capped_at_the_subtotal(self) -> None:
        assert coupon_discount(CouponKind.fixed, 5000, 1200) == 1200

    def test_percent_coupon(self) -> None:
        assert coupon_discount(CouponKind.percent, 25, 10000) == 2500

    def test_negative_amounts_are_refused(self) -> None:
        with pytest.raises(ValueError, match="negative"):
            coupon_discount(CouponKind.fixed, -1, 100)


class TestAllocate:
    def test_splits_by_weight_with_the_remainder_to_the_largest_fractions(self) -> None:
        assert allocate(100, [1, 1, 1]) == [34, 33, 33]

    def test_zero_weights_split_evenly(self) -> None:
        assert allocate(2, [0, 0]) == [1, 1]

    @given(total=st.integers(min_value=0, max_value=10**9), weights=prices)
    def test_shares_add_up_exactly(self, total: int, weights: list[int]) -> None:
        assert sum(allocate(total, weights)) == total


class TestBreakdown:
    def test_an_example_order(self) -> None:
        breakdown = price_breakdown(
            [2500, 2500, 4000],
            "USD",
            discount_minor=900,
            fees=FeePolicy(percent_bp=250, per_ticket_minor=50),
        )

        assert breakdown.subtotal_minor == 9000
        assert breakdown.discount_minor == 900
        # 2.5% of 8100 = 202.5 -> 203 (half up), plus 3 x 50.
        assert breakdown.fees_minor == 353
        assert breakdown.total_minor == 9000 - 900 + 353
        assert [t.discount_minor for t in breakdown.tickets] == [250, 250, 400]

    def test_a_free_order_has_no_fees(self) -> None:
        breakdown = price_breakdown(
            [1000], "USD", discount_minor=1000, fees=FeePolicy(per_order_minor=99)
        )

        assert breakdown.total_minor == 0
        assert breakdown.fees_minor == 0

    @given(
        unit_prices=prices, discount=st.integers(min_value=0, max_value=10**8), fees=fee_policies
    )
    def test_total_is_never_negative_and_discount_never_exceeds_subtotal(
        self, unit_prices: list[int], discount: int, fees: FeePolicy
    ) -> None:
        breakdown = price_breakdown(unit_prices, "USD", discount_minor=discount, fees=fees)

        assert breakdown.total_minor >= 0
        assert breakdown.discount_minor <= breakdown.subtotal_minor
        assert sum(t.total_minor for t in breakdown.tickets) == breakdown.total_minor
        assert sum(t.discount_minor for t in breakdown.tickets) == breakdown.discount_minor
        assert all(t.discount_minor <= t.unit_price_minor for t in breakdown.tickets)
        assert all(t.total_minor >= 0 for t in breakdown.tickets)

    @given(subtotal=st.integers(min_value=0, max_value=10**9), percent=st.integers(0, 100))
    def test_a_percent_discount_never_exceeds_the_exact_percentage(
        self, subtotal: int, percent: int
    ) -> None:
        discount = percent_discount(subtotal, percent)

        assert 0 <= discount * 100 <= subtotal * percent
        assert discount <= subtotal

    @given(
        unit_prices=prices, discount=st.integers(min_value=0, max_value=10**8), fees=fee_policies
    )
    def test_as_dict_is_what_asdict_gives(
        self, unit_prices: list[int], discount: int, fees: FeePolicy
    ) -> None:
        # What a booking stores as its pricing: every field, a field added later included.
        breakdown = price_breakdown(unit_prices, "USD", discount_minor=discount, fees=fees)

        assert breakdown.as_dict() == {
            **asdict(breakdown),
            "tickets": list(asdict(breakdown)["tickets"]),
        }
