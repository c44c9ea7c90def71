"""Outbox relay throughput: N booking events to N users, drained by K concurrent relays.

    BOXOFFICE_DATABASE_URL=postgresql://... ./dev bench relay --events 5000 --relays 2

Uses the in-app channel only (e-mail, webhooks and broker are network-bound elsewhere).
Writes into the database it is given (migrating it first): use a scratch database.
"""

import argparse
import asyncio
import os
import time
import uuid

from sqlalchemy import func, insert, select

from boxoffice.auth.models import User
from boxoffice.db.engine import create_engine, create_sessionmaker
from boxoffice.db.migrate import upgrade
from boxoffice.kit.outbox import OutboxEvent, Topic
from boxoffice.notification.dispatcher import Dispatcher, InAppChannel
from boxoffice.notification.models import Notification
from boxoffice.notification.relay import relay_once


async def run(dsn: str, events: int, relays: int, batch: int) -> None:
    engine = create_engine(dsn)
    sessionmaker = create_sessionmaker(engine)
    run_id = uuid.uuid4().hex[:8]
    async with sessionmaker() as session, session.begin():
        user_ids = (
            await session.scalars(
                insert(User)
                .values(
                    [
                        {"email": f"bench-{run_id}-{i}@example.com", "full_name": "Bench"}
                        for i in range(events)
                    ]
                )
                .returning(User.id)
            )
        ).all()
        await session.execute(
            insert(OutboxEvent).values(
                [
                    {
                        "topic": Topic.booking_confirmed.value,
                        "aggregate_id": str(uuid.uuid4()),
                        "payload": {"user_id": str(u), "event_title": "Bench"},
                        "attempts": 0,
                    }
                    for u in user_ids
                ]
            )
        )
    dispatcher = Dispatcher([InAppChannel()])

    async def drain() -> None:
        while await relay_once(sessionmaker, dispatcher, batch):
            pass

    started = time.perf_counter()
    await asyncio.gather(*(drain() for _ in range(relays)))
    elapsed = time.perf_counter() - started
    async with sessionmaker() as session:
        made = await session.scalar(
            select(func.count(Notification.id)).where(Notification.user_id.in_(user_ids))
        )
    await engine.dispose()
    print(
        f"events={events} relays={relays} batch={batch} seconds={elapsed:.2f} "
        f"events_per_second={events / elapsed:.0f} notifications={made}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--relays", type=int, default=2)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    dsn = os.environ.get("BOXOFFICE_DATABASE_URL")
    if not dsn:
        raise SystemExit("set BOXOFFICE_DATABASE_URL to a scratch database")
    upgrade(dsn)
    asyncio.run(run(dsn, args.events, args.relays, args.batch))


if __name__ == "__main__":
    main()
