"""Local fakes of the Stripe and Razorpay HTTP APIs, served through httpx's ASGI transport.

They check what a real provider checks (authentication, encoding, idempotency keys) and
answer with the documented object shapes, so the providers are tested against the wire
format, not against themselves.
"""

import base64
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

STRIPE_KEY = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"
RAZORPAY_KEY_ID = "key_id"
RAZORPAY_KEY_SECRET = "key_secret"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeStripe:
    """PaymentIntents and Refunds. Object shapes follow the examples of the API reference
    (https://docs.stripe.com/api/payment_intents/object, /api/refunds/object), trimmed to
    the fields read here."""

    requests: list[Recorded] = field(default_factory=list)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_idempotency_key: dict[str, dict[str, Any]] = field(default_factory=dict)
    refund_status: str = "succeeded"

    def transport(self) -> httpx.ASGITransport:
        app = FastAPI()

        @app.middleware("http")
        async def record(request: Request, call_next: Any) -> Any:
            body = await request.body()
            self.requests.append(
                Recorded(request.method, request.url.path, dict(request.headers), body)
            )
            if request.headers.get("authorization") != f"Bearer {STRIPE_KEY}":
                return JSONResponse(
                    {"error": {"type": "invalid_request_error", "message": "Invalid API Key"}},
                    status_code=401,
                )
            return await call_next(request)

        @app.post("/v1/payment_intents")
        async def create_intent(request: Request) -> JSONResponse:
            form = dict(parse_qsl((await request.body()).decode()))
            key = request.headers["idempotency-key"]
            if key in self.by_idempotency_key:
                return JSONResponse(self.by_idempotency_key[key])
            number = len(self.intents) + 1
            intent_id = f"pi_3MtwBwLkdIwHu7ix28a3tqP{number}"
            intent = {
                "id": intent_id,
                "object": "payment_intent",
                "amount": int(form["amount"]),
                "currency": form["currency"],
                "client_secret": f"{intent_id}_secret_YrKJUKribcBjcG8HVhfZluoGH",
                "last_payment_error": None,
                "latest_charge": None,
                "livemode": False,
                "metadata": {
                    k[len("metadata[") : -1]: v
                    for k, v in form.items()
                    if k.startswith("metadata[")
                },
                "status": "requires_payment_method",
            }
            self.intents[intent_id] = intent
            self.by_idempotency_key[key] = intent
            return JSONResponse(intent)

        @app.get("/v1/payment_intents/{intent_id}")
        async def get_intent(intent_id: str) -> JSONResponse:
            if intent_id not in self.intents:
                return JSONResponse(
                    {
                        "error": {
                            "code": "resource_missing",
                            "message": f"No such payment_intent: '{intent_id}'",
                            "type": "invalid_request_error",
                        }
                    },
                    status_code=404,
                )
            return JSONResponse(self.intents[intent_id])

        @app.post("/v1/refunds")
        async def create_refund(request: Request) -> JSONResponse:
            form = dict(parse_qsl((await request.body()).decode()))
            intent = self.intents[form["payment_intent"]]
            return JSONResponse(
                {
                    "id": f"re_3MtwBwLkdIwHu7ix0Z6KqRZ{len(self.requests)}",
                    "object": "refund",
                    "amount": int(form["amount"]),
                    "currency": intent["currency"],
                    "payment_intent": intent["id"],
                    "status": self.refund_status,
                }
            )

        return httpx.ASGITransport(app=app)


@dataclass
class FakeRazorpay:
    """Orders and Refunds. Object shapes follow razorpay-python's test fixtures
    (github.com/razorpay/razorpay-python, tests/mocks/fake_order.json, fake_refund.json)
    and https://razorpay.com/docs/api/orders/."""

    requests: list[Recorded] = field(default_factory=list)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    captured: dict[str, str] = field(default_factory=dict)
    """order id -> id of its captured payment."""

    def transport(self) -> httpx.ASGITransport:
        app = FastAPI()
        expected = (
            "Basic "
            + base64.b64encode(f"{RAZORPAY_KEY_ID}:{RAZORPAY_KEY_SECRET}".encode()).decode()
        )

        @app.middleware("http")
        async def record(request: Request, call_next: Any) -> Any:
            body = await request.body()
            self.requests.append(
                Recorded(request.method, request.url.path, dict(request.headers), body)
            )
            if request.headers.get("authorization") != expected:
                return JSONResponse(
                    {
                        "error": {
                            "code": "BAD_REQUEST_ERROR",
                            "description": "Authentication failed",
                        }
                    },
                    status_code=401,
                )
            return await call_next(request)

        @app.post("/v1/orders")
        async def create_order(request: Request) -> JSONResponse:
            body = json.loads(await request.body())
            if len(body.get("receipt", "")) > 40:
                return JSONResponse(
                    {
                        "error": {
                            "code": "BAD_REQUEST_ERROR",
                            "description": "receipt: may not be greater than 40 characters",
                        }
                    },
                    status_code=400,
                )
            order_id = f"order_IluGWxBm9U8zJ{len(self.orders) + 1}"
            order = {
                "id": order_id,
                "entity": "order",
                "amount": body["amount"],
                "amount_paid": 0,
                "amount_due": body["amount"],
                "currency": body["currency"],
                "receipt": body["receipt"],
                "status": "created",
                "attempts": 0,
                "notes": body.get("notes", {}),
                "created_at": 1642662092,
            }
            self.orders[order_id] = order
            return JSONResponse(order)

        @app.get("/v1/orders/{order_id}")
        async def get_order(order_id: str) -> JSONResponse:
            return JSONResponse(self.orders[order_id])

        @app.get("/v1/orders/{order_id}/payments")
        async def order_payments(order_id: str) -> JSONResponse:
            items = []
            if order_id in self.captured:
                items.append(
                    {
                        "id": self.captured[order_id],
                        "entity": "payment",
                        "amount": self.orders[order_id]["amount"],
                        "currency": self.orders[order_id]["currency"],
                        "status": "captured",
                        "order_id": order_id,
                    }
                )
            return JSONResponse({"entity": "collection", "count": len(items), "items": items})

        @app.post("/v1/payments/{payment_id}/refund")
        async def refund(payment_id: str, request: Request) -> JSONResponse:
            body = json.loads(await request.body())
            return JSONResponse(
                {
                    "id": "rfnd_FP8DDKxqJif6ca",
                    "entity": "refund",
                    "amount": body["amount"],
                    "currency": "INR",
                    "payment_id": payment_id,
                    "notes": body.get("notes", {}),
                    "receipt": body.get("receipt"),
                    "created_at": 1597078124,
                    "status": "processed",
                    "speed_processed": "normal",
                    "speed_requested": "normal",
                }
            )

        return httpx.ASGITransport(app=app)
