"""Fixtures of the notification tests: a relay that runs inside the test's transaction, an
e-mail sender that records what it was asked to send, and a Kafka-protocol broker."""

import os
import uuid
from collections.abc import Awaitable, Callable, Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.config import Settings
from boxoffice.notification.dispatcher import Dispatcher, EmailChannel, InAppChannel
from boxoffice.notification.email import OutgoingEmail
from boxoffice.notification.relay import relay_once
from tests.notification.kafka_broker import tansu_broker


class RecordingEmailSender:
    def __init__(self) -> None:
        self.sent: list[OutgoingEmail] = []

    async def send(self, email: OutgoingEmail) -> None:
        self.sent.append(email)

    def to(self, address: str) -> list[OutgoingEmail]:
        return [e for e in self.sent if e.to == address]


@pytest.fixture
def outbox_sender() -> RecordingEmailSender:
    return RecordingEmailSender()


@pytest.fixture
def dispatcher(outbox_sender: RecordingEmailSender, settings: Settings) -> Dispatcher:
    return Dispatcher([InAppChannel(), EmailChannel(outbox_sender, settings)])


@pytest.fixture
def local_sessionmaker(session: AsyncSession) -> async_sessionmaker[AsyncSession]:
    """Sessions on the test's connection: what the relay commits is a savepoint, rolled
    back with the test."""
    return async_sessionmaker(
        bind=session.bind,
        expire_on_commit=False,
        autoflush=False,
        join_transaction_mode="create_savepoint",
    )


@pytest.fixture
def relay(
    session: AsyncSession,
    local_sessionmaker: async_sessionmaker[AsyncSession],
    dispatcher: Dispatcher,
) -> Callable[[], Awaitable[int]]:
    """`await relay()` runs one relay pass over the test's outbox."""

    async def run() -> int:
        await session.flush()
        claimed = await relay_once(local_sessionmaker, dispatcher)
        return claimed

    return run


def new_id() -> str:
    return str(uuid.uuid4())


Relay = Callable[[], Awaitable[int]]


@pytest.fixture(scope="session")
def kafka_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`BOXOFFICE_TEST_KAFKA_URL` (`kafka://host:port`) when set, else a Tansu broker started
    for this test session and stopped after it."""
    external = os.environ.get("BOXOFFICE_TEST_KAFKA_URL")
    if external:
        yield external
        return
    with tansu_broker(tmp_path_factory.mktemp("tansu")) as url:
        yield url
