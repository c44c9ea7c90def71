import uuid
from datetime import timedelta

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import Role
from boxoffice.config import Settings
from boxoffice.coupon.models import CouponKind
from boxoffice.kit.time import utcnow
from tests.coupon.factories import create_coupon
from tests.factories import bearer, create_event, create_user


class TestCreate:
    async def test_an_organizer_creates_a_coupon_for_an_own_event(
        self, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        event = await create_event(session, organizer=organizer)

        response = await client.post(
            "/api/coupons",
            json={
                "code": "Summer10",
                "kind": "percent",
                "value": 10,
                "max_redemptions": 100,
                "event_ids": [str(event.id)],
            },
            headers=bearer(settings, organizer),
        )

        assert response.status_code == 201
        body = response.json()
        assert body["organizer_id"] == str(organizer.id)
        assert body["event_ids"] == [str(event.id)]
        assert body["redeemed_count"] == 0
        assert body["active"] is True

    async def test_an_organizer_cannot_target_another_organizers_event(
        self, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        rival = await create_user(session, role=Role.organizer)
        event = await create_event(session, organizer=rival)

        response = await client.post(
            "/api/coupons",
            json={"code": "STEAL", "kind": "percent", "value": 50, "event_ids": [str(event.id)]},
            headers=bearer(settings, organizer),
        )

        assert response.status_code == 403
        assert response.json()["code"] == "coupon_scope_forbidden"

    async def test_an_admin_creates_a_coupon_for_every_event(
        self, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        admin = await create_user(session, role=Role.admin)

        response = await client.post(
            "/api/coupons",
            json={"code": "WELCOME5", "kind": "fixed", "value": 500, "currency": "USD"},
            headers=bearer(settings, admin),
        )

        assert response.status_code == 201
        assert response.json()["organizer_id"] is None

    async def test_a_buyer_cannot_create_coupons(
        self, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        buyer = await create_user(session)

        response = await client.post(
            "/api/coupons",
            json={"code": "FREE", "kind": "percent", "value": 100},
            headers=bearer(settings, buyer),
        )

        assert response.status_code == 403

    async def test_codes_are_unique_ignoring_case(
        self, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        admin = await create_user(session, role=Role.admin)
        await create_coupon(session, created_by=admin, code="SPRING")

        response = await client.post(
            "/api/coupons",
            json={"code": "spring", "kind": "percent", "value": 5},
            headers=bearer(settings, admin),
        )

        assert response.status_code == 409
        assert response.json()["code"] == "coupon_code_taken"

    @pytest.mark.parametrize(
        "body",
        [
            {"code": "BAD1", "kind": "percent", "value": 101},
            {"code": "BAD2", "kind": "fixed", "value": 500},
            {"code": "BAD3", "kind": "percent", "value": 10, "currency": "USD"},
            {"code": "no spaces", "kind": "percent", "value": 10},
        ],
    )
    async def test_inconsistent_coupons_are_validation_errors(
        self,
        client: AsyncClient,
        session: AsyncSession,
        settings: Settings,
        body: dict[str, object],
    ) -> None:
        admin = await create_user(session, role=Role.admin)

        response = await client.post("/api/coupons", json=body, headers=bearer(settings, admin))

        assert response.status_code == 422
        assert response.json()["code"] == "validation_error"

    async def test_an_end_already_past_is_an_empty_window(
        self, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        admin = await create_user(session, role=Role.admin)
        body = {"code": "LATE1", "kind": "percent", "value": 10}

        past = await client.post(
            "/api/coupons",
            json={**body, "valid_until": "2020-01-01T00:00:00Z"},
            headers=bearer(settings, admin),
        )
        listed = await client.get("/api/coupons", headers=bearer(settings, admin))

        assert past.status_code == 422
        assert past.json()["code"] == "coupon_invalid_window"
        assert "LATE1" not in [c["code"] for c in listed.json()["items"]]


class TestReadAndUpdate:
    async def test_organizers_list_only_their_own_coupons(
        self, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        other = await create_user(session, role=Role.organizer)
        mine = await create_coupon(session, created_by=organizer, organizer_id=organizer.id)
        await create_coupon(session, created_by=other, organizer_id=other.id)

        body = (await client.get("/api/coupons", headers=bearer(settings, organizer))).json()

        assert [c["id"] for c in body["items"]] == [str(mine.id)]
        assert body["total"] == 1

    async def test_another_organizers_coupon_is_not_found(
        self, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        other = await create_user(session, role=Role.organizer)
        theirs = await create_coupon(session, created_by=other, organizer_id=other.id)

        response = await client.get(
            f"/api/coupons/{theirs.id}", headers=bearer(settings, organizer)
        )

        assert response.status_code == 404
        assert response.json()["code"] == "coupon_not_found"

    async def test_an_owner_deactivates_and_raises_the_limit(
        self, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        coupon = await create_coupon(
            session, created_by=organizer, organizer_id=organizer.id, max_redemptions=5
        )

        response = await client.put(
            f"/api/coupons/{coupon.id}",
            json={"active": False, "max_redemptions": 50, "max_per_user": None},
            headers=bearer(settings, organizer),
        )

        assert response.status_code == 200
        body = response.json()
        assert (body["active"], body["max_redemptions"], body["max_per_user"]) == (False, 50, None)

    async def test_a_limit_below_the_uses_made_is_refused(
        self, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        coupon = await create_coupon(
            session, created_by=organizer, organizer_id=organizer.id, max_redemptions=10
        )
        coupon.redeemed_count = 4
        await session.flush()

        response = await client.put(
            f"/api/coupons/{coupon.id}",
            json={"max_redemptions": 3},
            headers=bearer(settings, organizer),
        )

        assert response.status_code == 422
        assert response.json()["code"] == "coupon_limit_below_use"


class TestValidate:
    async def test_previews_the_discount_case_insensitively(
        self, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        buyer = await create_user(session)
        event = await create_event(session, organizer=organizer)
        coupon = await create_coupon(
            session, created_by=organizer, organizer_id=organizer.id, code="TENOFF", value=10
        )

        response = await client.post(
            "/api/coupons/validate",
            json={
                "code": "tenoff",
                "event_id": str(event.id),
                "amount_minor": 4999,
                "currency": "USD",
            },
            headers=bearer(settings, buyer),
        )

        assert response.status_code == 200
        assert response.json() == {
            "coupon_id": str(coupon.id),
            "code": "TENOFF",
            "kind": "percent",
            "value": 10,
            "subtotal_minor": 4999,
            "discount_minor": 499,
            "total_minor": 4500,
            "currency": "USD",
        }

    @pytest.mark.parametrize(
        ("coupon_args", "status", "code"),
        [
            ({"valid_until": "past"}, 422, "coupon_expired"),
            ({"valid_from": "future"}, 422, "coupon_not_yet_valid"),
            ({"active": False}, 422, "coupon_inactive"),
            ({"kind": CouponKind.fixed, "value": 500, "currency": "EUR"}, 422, "currency_mismatch"),
            ({"event_ids": "other"}, 422, "coupon_not_applicable"),
            ({"organizer_id": "other"}, 422, "coupon_not_applicable"),
            ({"max_redemptions": "used_up"}, 409, "coupon_exhausted"),
        ],
    )
    async def test_a_coupon_that_does_not_apply_says_why(
        self,
        client: AsyncClient,
        session: AsyncSession,
        settings: Settings,
        coupon_args: dict[str, object],
        status: int,
        code: str,
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        other = await create_user(session, role=Role.organizer)
        buyer = await create_user(session)
        event = await create_event(session, organizer=organizer)
        other_event = await create_event(session, organizer=organizer)
        now = utcnow()
        args: dict[str, object] = {"organizer_id": organizer.id, **coupon_args}
        if args.get("valid_until") == "past":
            args["valid_from"], args["valid_until"] = now - timedelta(days=2), now - timedelta(1)
        if args.get("valid_from") == "future":
            args["valid_from"] = now + timedelta(days=1)
        if args.get("event_ids") == "other":
            args["event_ids"] = [other_event.id]
        if args.get("organizer_id") == "other":
            args["organizer_id"] = other.id
        used_up = args.get("max_redemptions") == "used_up"
        if used_up:
            args["max_redemptions"] = 1
        coupon = await create_coupon(session, created_by=organizer, **args)  # type: ignore[arg-type]
        if used_up:
            coupon.redeemed_count = 1
            await session.flush()

        response = await client.post(
            "/api/coupons/validate",
            json={
                "code": coupon.code,
                "event_id": str(event.id),
                "amount_minor": 5000,
                "currency": "USD",
            },
            headers=bearer(settings, buyer),
        )

        assert response.status_code == status
        assert response.json()["code"] == code

    async def test_an_unknown_code_is_not_found(
        self, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        buyer = await create_user(session)
        event = await create_event(session, organizer=organizer)

        response = await client.post(
            "/api/coupons/validate",
            json={
                "code": "NOPE",
                "event_id": str(event.id),
                "amount_minor": 5000,
                "currency": "USD",
            },
            headers=bearer(settings, buyer),
        )

        assert response.status_code == 404
        assert response.json()["code"] == "coupon_not_found"

    async def test_an_unknown_event_is_not_found(
        self, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        admin = await create_user(session, role=Role.admin)
        coupon = await create_coupon(session, created_by=admin)

        response = await client.post(
            "/api/coupons/validate",
            json={
                "code": coupon.code,
                "event_id": str(uuid.uuid4()),
                "amount_minor": 5000,
                "currency": "USD",
            },
            headers=bearer(settings, admin),
        )

        assert response.status_code == 404
        assert response.json()["code"] == "event_not_found"
