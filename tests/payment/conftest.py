import pytest
from fastapi import FastAPI

from boxoffice.payment.providers.sandbox import SandboxProvider

SANDBOX_SECRET = "whsec_test_sandbox_secret"


@pytest.fixture
def sandbox(app: FastAPI) -> SandboxProvider:
    """The sandbox provider, installed in the (rolled-back) test app."""
    provider = SandboxProvider(webhook_secret=SANDBOX_SECRET)
    app.state.payment_provider = provider
    return provider


@pytest.fixture
def committing_sandbox(committing_app: FastAPI) -> SandboxProvider:
    """The sandbox provider, installed in the app that really commits."""
    provider = SandboxProvider(webhook_secret=SANDBOX_SECRET)
    committing_app.state.payment_provider = provider
    return provider
