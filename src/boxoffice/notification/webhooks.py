"""Organizers' outgoing webhooks: signing and the sender that works off the delivery log.

Each request body is the event JSON (`id`, `topic`, `aggregate_id`, `created_at`, `data`),
signed with the endpoint's secret: `Boxoffice-Signature: t=<unix seconds>,v1=<hex>`, where
`<hex>` is HMAC-SHA256 over `"{t}.{body}"`; for a while after a rotation, a second `v1`
signs with the old secret. Receivers accept any `v1` made with a secret they hold, reject
old timestamps, and deduplicate on `Boxoffice-Event-Id`.
"""

import asyncio
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

import httpx
import structlog
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.config import WebhookSettings
from boxoffice.kit.signing import SignatureMismatch, signature_header, verify_signature_header
from boxoffice.kit.time import utcnow
from boxoffice.notification import repository
from boxoffice.notification.models import (
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
)

log = structlog.get_logger(__name__)

SIGNATURE_HEADER = "Boxoffice-Signature"
EVENT_ID_HEADER = "Boxoffice-Event-Id"
TOPIC_HEADER = "Boxoffice-Topic"


def sign(secret: str, timestamp: int, body: str, *, also: Sequence[str] = ()) -> str:
    """The `Boxoffice-Signature` header value for `body` sent at `timestamp`, with one more
    `v1` per secret in `also`."""
    return signature_header(secret, body.encode(), timestamp, also=also)


def signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> tuple[str, list[str]]:
    """The endpoint's secret, and the rolled one while its overlap lasts."""
    previous = endpoint.previous_secret
    expires = endpoint.previous_secret_expires_at
    return endpoint.secret, [previous] if previous and expires and now < expires else []


def verify(secret: str, header: str, body: str, *, tolerance_seconds: int = 300) -> bool:
    """What a receiver does: recompute, compare in constant time, refuse stale timestamps."""
    try:
        verify_signature_header(secret, header, body.encode(), tolerance_seconds=tolerance_seconds)
    except SignatureMismatch:
        return False
    return True


class WebhookSender:
    def __init__(self, http: httpx.AsyncClient, settings: WebhookSettings) -> None:
        self.http = http
        self.settings = settings

    async def _post(self, delivery: WebhookDelivery, endpoint: WebhookEndpoint) -> int | str:
        """The response status, or the error text when there was no response."""
        secret, previous = signing_secrets(endpoint, utcnow())
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(secret, int(time.time()), delivery.body, also=previous),
            EVENT_ID_HEADER: str(delivery.event_id),
            TOPIC_HEADER: delivery.topic,
        }
        try:
            response = await self.http.post(
                endpoint.url,
                content=delivery.body.encode(),
                headers=headers,
                timeout=self.settings.timeout_seconds,
            )
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:2000]
        return response.status_code

    async def deliver_once(
        self, sessionmaker: async_sessionmaker[AsyncSession], batch: int = 50
    ) -> int:
        """Send the due deliveries (claimed with SKIP LOCKED); returns how many were tried."""
        async with sessionmaker() as session, session.begin():
            claimed = await repository.claim_due_deliveries(session, utcnow(), batch)
            outcomes = await asyncio.gather(*(self._post(d, e) for d, e in claimed))
            for (delivery, endpoint), outcome in zip(claimed, outcomes, strict=True):
                await self._record(session, delivery, endpoint, outcome)
            return len(claimed)

    async def _record(
        self,
        session: AsyncSession,
        delivery: WebhookDelivery,
        endpoint: WebhookEndpoint,
        outcome: int | str,
    ) -> None:
        now = utcnow()
        delivery.attempts += 1
        if isinstance(outcome, int):
            delivery.last_status_code = outcome
            delivery.last_error = None
        else:
            delivery.last_status_code = None
            delivery.last_error = outcome
        if isinstance(outcome, int) and 200 <= outcome < 300:
            delivery.status = WebhookDeliveryStatus.delivered
            delivery.delivered_at = now
            endpoint.consecutive_gone = 0
            return
        if outcome == 410:
            endpoint.consecutive_gone += 1
            if endpoint.is_active and endpoint.consecutive_gone >= self.settings.disable_after_gone:
                await self._disable(session, endpoint)
                return
        elif isinstance(outcome, int):
            endpoint.consecutive_gone = 0
        if delivery.attempts >= self.settings.max_attempts:
            delivery.status = WebhookDeliveryStatus.failed
            return
        delay = min(
            self.settings.retry_max_seconds,
            self.settings.retry_base_seconds * 2 ** min(delivery.attempts - 1, 40),
        )
        delivery.next_attempt_at = now + timedelta(seconds=delay)

    async def _disable(self, session: AsyncSession, endpoint: WebhookEndpoint) -> None:
        """The receiver said the endpoint is gone, repeatedly: stop sending to it."""
        endpoint.is_active = False
        endpoint.disabled_at = utcnow()
        await session.flush()
        await session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.endpoint_id == endpoint.id,
                WebhookDelivery.status == WebhookDeliveryStatus.pending,
            )
            .values(status=WebhookDeliveryStatus.failed, last_error="endpoint disabled (410 Gone)")
            .execution_options(synchronize_session=False)
        )
        log.warning("webhook_endpoint_disabled", endpoint_id=str(endpoint.id))
