"""HTTP helpers shared by the auth and user tests."""

import uuid
from typing import Any

from httpx import AsyncClient

STRONG_PASSWORD = "blue-kettle-seventeen-doors"


def new_email() -> str:
    return f"person-{uuid.uuid4().hex[:10]}@example.com"


async def register(
    client: AsyncClient,
    *,
    email: str | None = None,
    password: str = STRONG_PASSWORD,
    user_agent: str = "pytest-device-A",
    **extra: Any,
) -> dict[str, Any]:
    response = await client.post(
        "/api/auth/register",
        json={"email": email or new_email(), "password": password, "full_name": "Ada", **extra},
        headers={"User-Agent": user_agent},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def login(
    client: AsyncClient, email: str, password: str = STRONG_PASSWORD, user_agent: str = "B"
) -> dict[str, Any]:
    response = await client.post(
        "/api/auth/login",
        json={"email": email, "password": password},
        headers={"User-Agent": user_agent},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}
