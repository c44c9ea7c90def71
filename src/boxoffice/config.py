"""One settings object, grouped by concern; every field is read from `BOXOFFICE_*`."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _group(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=f"BOXOFFICE_{prefix}", extra="ignore")


def default_data_dir() -> Path:
    """`$XDG_DATA_HOME/boxoffice`, else `~/.local/share/boxoffice` (platformdirs decides)."""
    return Path(platformdirs.user_data_dir("boxoffice", appauthor=False))


class DatabaseSettings(BaseSettings):
    model_config = _group("DATABASE_")

    url: str | None = None
    """DSN of the PostgreSQL server (`postgresql://user:pass@host:5432/db`). Unset: embedded."""
    pool_size: int = Field(default=10, ge=1)
    """Connections per process; size for throughput, not for client count."""
    max_overflow: int = Field(default=10, ge=0)
    """Extra connections a process may open under bursts."""
    pool_timeout: float = Field(default=10.0, gt=0)
    """Seconds a request waits for a pooled connection before failing with 503."""
    statement_timeout_ms: int = Field(default=15_000, ge=0)
    """Server-side cap on one statement, so a stuck query cannot hold a worker forever."""
    echo: bool = False
    """Log every SQL statement (development only)."""


class EmbeddedSettings(BaseSettings):
    model_config = _group("EMBEDDED_")

    data_dir: Path = Field(default_factory=default_data_dir)
    """Where the embedded PostgreSQL keeps its data (a `pgdata` folder is made inside)."""
    database: str = "boxoffice"
    """Database created inside the embedded server."""


class HttpSettings(BaseSettings):
    model_config = _group("HTTP_")

    host: str = "127.0.0.1"
    """Interface `serve` binds to."""
    port: int = Field(default=8000, ge=1, le=65535)
    """Port `serve` listens on."""
    workers: int = Field(default=1, ge=1)
    """Worker processes for `serve`; each is stateless."""
    cors_origins: list[str] = Field(default_factory=list)
    """Origins allowed to call the API from a browser (JSON list)."""
    public_url: str = "http://127.0.0.1:8000"
    """Base URL clients use to reach the API (links in e-mails, webhooks)."""
    exports_per_hour: int = Field(default=30, ge=1)
    """Whole exports (an account's data, a bookings CSV) one account may ask for per hour:
    each reads everything it covers."""


class AuthSettings(BaseSettings):
    model_config = _group("AUTH_")

    jwt_secret: SecretStr = SecretStr("dev-only-change-me-boxoffice-jwt-secret-0123456789")
    """HMAC key for access tokens. Set a long random value in production."""
    jwt_algorithm: str = "HS256"
    """Signature algorithm for access tokens; tokens signed any other way are refused."""
    access_token_ttl_seconds: int = Field(default=900, ge=30)
    """Lifetime of an access token."""
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=60)
    """Lifetime of a refresh token (each use rotates it)."""
    issuer: str = "boxoffice"
    """`iss` claim of issued access tokens."""
    password_min_length: int = Field(default=10, ge=8)
    """Shortest password accepted at registration and password change."""
    login_attempts_per_account: int = Field(default=10, ge=1)
    """Sign-in attempts allowed per e-mail address per `login_window_seconds`."""
    login_attempts_per_ip: int = Field(default=50, ge=1)
    """Sign-in attempts allowed per client IP per `login_window_seconds`."""
    login_window_seconds: int = Field(default=900, ge=1)
    """Window of the sign-in rate limits; a blocked caller is told when to retry."""
    register_per_ip: int = Field(default=20, ge=1)
    """Accounts that may be created per client IP per hour."""
    oauth_starts_per_ip: int = Field(default=60, ge=1)
    """External sign-ins (Google) that may be started per client IP per `login_window_seconds`."""
    otp_ttl_seconds: int = Field(default=300, ge=30)
    """Lifetime of a phone verification code."""
    otp_max_attempts: int = Field(default=5, ge=1)
    """Wrong guesses allowed per code; then a new code must be requested."""
    otp_requests_per_phone: int = Field(default=3, ge=1)
    """Codes that may be requested per phone number per `otp_window_seconds`."""
    otp_requests_per_ip: int = Field(default=10, ge=1)
    """Codes that may be requested per client IP per `otp_window_seconds`."""
    otp_window_seconds: int = Field(default=3600, ge=1)
    """Window of the code-request rate limits."""
    password_reset_ttl_seconds: int = Field(default=3600, ge=300)
    """How long a password reset token from the e-mail works."""
    password_reset_requests_per_email: int = Field(default=3, ge=1)
    """Resets that may be asked for per e-mail address per `password_reset_window_seconds`."""
    password_reset_requests_per_ip: int = Field(default=20, ge=1)
    """Resets that may be asked for per client IP per `password_reset_window_seconds`."""
    password_reset_window_seconds: int = Field(default=3600, ge=1)
    """Window of the password reset rate limits."""
    email_verification_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=300)
    """How long an e-mailed verification token works."""
    email_verification_requests_per_user: int = Field(default=3, ge=1)
    """Verification e-mails an account may ask for again per hour."""
    email_verification_url: str | None = None
    """The link in the verification e-mail, with `{token}` where the token goes (your app's
    page, which posts it to `/api/auth/email/verify`). Unset: the e-mail gives the token."""
    password_reset_url: str | None = None
    """The link in the reset e-mail, with `{token}` where the token goes (your app's page,
    which posts it to `/api/auth/password-reset/confirm`). Unset: the e-mail gives the token
    and that API call."""


class GoogleSettings(BaseSettings):
    model_config = _group("GOOGLE_")

    issuer: str = "https://accounts.google.com"
    """OpenID Connect issuer; its `/.well-known/openid-configuration` names the endpoints."""
    client_id: str | None = None
    """OAuth client id. Unset: "Sign in with Google" answers 503 `google_sign_in_disabled`."""
    client_secret: SecretStr | None = None
    """OAuth client secret, sent to the token endpoint."""
    redirect_uri: str = "http://127.0.0.1:8000/auth/google/callback"
    """Where the provider sends the browser back (the client app's page, which then posts
    `code` and `state` to `/api/auth/google/callback`)."""
    state_ttl_seconds: int = Field(default=600, ge=30)
    """How long an authorization request (`state`, `nonce`) stays usable."""
    http_timeout_seconds: float = Field(default=10.0, gt=0)
    """Timeout of calls to the provider (discovery, token, JWKS)."""


class RedisSettings(BaseSettings):
    model_config = _group("REDIS_")

    url: str | None = None
    """Redis URL (`redis://host:6379/0`). Set: rate-limit counters are shared across API
    processes. Unset: each process counts on its own."""


class LogSettings(BaseSettings):
    model_config = _group("LOG_")

    level: str = "INFO"
    """Minimum level logged."""
    access: bool = True
    """One log line per HTTP request (method, path, status, duration, request id)."""
    json_output: bool | None = Field(default=None, alias="BOXOFFICE_LOG_JSON")
    """JSON lines (true) or human-readable console (false). Unset: JSON when stderr is no TTY."""
    opentelemetry: bool = False
    """FastAPI's native OpenTelemetry spans, metrics and logs, sent to the globally configured
    OpenTelemetry providers (an SDK the deployment sets up). Off: FastAPI then skips
    looking the providers up on every request (about 2% of a hold's server CPU)."""


class BookingSettings(BaseSettings):
    model_config = _group("BOOKING_")

    require_verified_email: bool = False
    """Holds and bookings need a verified e-mail address (`403 email_verification_required`):
    fewer throwaway accounts in a flash sale."""

    hold_max_seconds: int = Field(default=1800, ge=60)
    """Hard cap on a hold's life from its creation, however often it is extended."""
    extend_seconds: int = Field(default=300, ge=30)
    """How much one `extend-hold` call adds (never past the cap)."""
    active_holds_per_showtime: int = Field(default=1, ge=1)
    """Live holds one buyer may have on one showtime at a time."""
    payment_window_seconds: int = Field(default=900, ge=60)
    """How long a pending booking keeps its units while the buyer pays."""
    ticket_secret: SecretStr | None = None
    """HMAC key of ticket codes; unset: derived from the JWT secret."""
    ticket_secrets_previous: list[SecretStr] = Field(default_factory=list)
    """Earlier ticket secrets (or JWT secrets, where the ticket secret was derived), still
    accepted at the door after a rotation: codes already sent keep getting in, while every
    code shown from now on is signed with the current secret. A JSON list in the
    environment; drop a secret once the showtimes its codes were for are over."""
    hold_attempts_per_minute: int = Field(default=60, ge=0)
    """Holds one account may ask for a minute (`hold-seats` and the one-call
    `POST /api/bookings`), granted or refused, then `429 rate_limited`: a person picks seats
    a few times a minute, a bot in a flash sale hundreds of times. 0: no limit."""
    ticket_emails_per_hour: int = Field(default=5, ge=1)
    """How often one account may ask for its tickets by e-mail again, an hour."""
    transfer_offers_per_hour: int = Field(default=20, ge=1)
    """Tickets one account may offer to e-mail addresses without an account, an hour: each
    offer e-mails a stranger."""
    transfer_claim_url: str | None = None
    """Your app's page for taking a ticket offered by e-mail, with `{token}` where the token
    goes; unset: the e-mail gives the token and the API call."""
    seat_map_refresh_ms: int = Field(default=250, ge=0)
    """A cached seat map younger than this is served without asking the database."""
    stream_poll_ms: int = Field(default=1000, ge=50)
    """How often the seat-change stream (SSE) checks a showtime's version."""
    sweep_interval_seconds: int = Field(default=30, ge=1)
    """Period of the expiry sweeper job in the worker."""


class WaitlistSettings(BaseSettings):
    model_config = _group("WAITLIST_")

    offer_ttl_seconds: int = Field(default=900, ge=30)
    """How long units offered to a waitlisted buyer stay held for them."""
    offer_interval_seconds: int = Field(default=5, ge=1)
    """Period of the worker job that offers returned units and passes on lapsed offers."""
    offer_batch: int = Field(default=200, ge=1)
    """Most entries one run of the offer job looks at per showtime."""


class PaymentSettings(BaseSettings):
    model_config = _group("PAYMENT_")

    provider: Literal["sandbox", "stripe", "razorpay"] = "sandbox"
    """Who collects the money: `sandbox` (offline simulation, test cards), `stripe`, `razorpay`."""
    webhook_tolerance_seconds: int = Field(default=300, ge=1)
    """Oldest signed webhook timestamp accepted (Stripe-format signatures), against replays."""
    http_timeout_seconds: float = Field(default=10.0, gt=0)
    """Timeout of one call to the provider's API."""
    sandbox_webhook_secret: SecretStr = SecretStr("whsec_sandbox_dev_only")
    """HMAC key the sandbox signs its webhooks with (Stripe's header format)."""
    stripe_secret_key: SecretStr | None = None
    """Stripe secret API key (`sk_test_...` / `sk_live_...`)."""
    stripe_webhook_secret: SecretStr | None = None
    """Signing secret of the Stripe webhook endpoint (`whsec_...`)."""
    stripe_api_base: str = "https://api.stripe.com"
    """Stripe API base URL (a local fake in tests)."""
    razorpay_key_id: str | None = None
    """Razorpay key id (`rzp_test_...` / `rzp_live_...`)."""
    razorpay_key_secret: SecretStr | None = None
    """Razorpay key secret: API basic auth and checkout signature verification."""
    razorpay_webhook_secret: SecretStr | None = None
    """Secret set on the Razorpay webhook: verifies `X-Razorpay-Signature`."""
    razorpay_api_base: str = "https://api.razorpay.com"
    """Razorpay API base URL (a local fake in tests)."""


class NotificationSettings(BaseSettings):
    model_config = _group("NOTIFICATION_")

    relay_batch: int = Field(default=100, ge=1, le=1000)
    """Outbox events one relay pass claims (and keeps locked while it delivers them)."""
    relay_poll_seconds: float = Field(default=1.0, gt=0)
    """Pause of the relay loop when nothing is due."""
    retry_base_seconds: float = Field(default=2.0, gt=0)
    """First retry delay of a failed delivery; doubles per attempt."""
    retry_max_seconds: float = Field(default=3600.0, gt=0)
    """Cap on the retry delay."""
    reminder_hours_before: int = Field(default=24, ge=1, le=24 * 14)
    """Ticket holders are reminded this many hours before their showtime starts."""


class EmailSettings(BaseSettings):
    model_config = _group("EMAIL_")

    backend: Literal["log", "file", "smtp"] = "log"
    """`log` writes each message to the log, `file` into `file_dir`, `smtp` sends it."""
    from_address: str = "boxoffice <no-reply@boxoffice.local>"
    """`From` header of every message."""
    file_dir: Path = Path("var/mail")
    """Folder the `file` backend writes `.eml` files to."""
    smtp_host: str = "127.0.0.1"
    """SMTP server."""
    smtp_port: int = Field(default=25, ge=1, le=65535)
    """SMTP port (587 with STARTTLS, 465 with implicit TLS)."""
    smtp_username: str | None = None
    """SMTP login, if the server wants one."""
    smtp_password: SecretStr | None = None
    """SMTP password."""
    smtp_use_tls: bool = False
    """Implicit TLS from the first byte (port 465)."""
    smtp_start_tls: bool | None = None
    """STARTTLS: true requires it, false never, unset uses it when the server offers it."""
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    """Give up on one SMTP conversation after this long."""


class BrokerSettings(BaseSettings):
    model_config = _group("BROKER_")

    url: str | None = None
    """`amqp://...` / `amqps://...` (RabbitMQ), `nats://...` / `tls://...` (NATS) or
    `kafka://host:port[,host:port...]` (Kafka bootstrap servers). Unset: no broker, events
    stay inside."""
    exchange: str = "boxoffice.events"
    """RabbitMQ topic exchange events are published to, routing key = topic."""
    subject_prefix: str = "boxoffice.events"
    """NATS subject prefix; the subject is `<prefix>.<topic>`."""
    kafka_topic: str = "boxoffice.events"
    """Kafka topic every event is published to; key = aggregate id, `topic` header = topic."""
    kafka_idempotence: bool = True
    """Idempotent Kafka producer (acks=all either way). Turn off only for brokers that lack
    it (e.g. Tansu); consumers deduplicate on the `message-id` header regardless."""


class WebhookSettings(BaseSettings):
    model_config = _group("WEBHOOK_")

    timeout_seconds: float = Field(default=10.0, gt=0)
    """Time an organizer's endpoint has to answer one delivery."""
    max_attempts: int = Field(default=10, ge=1)
    """Attempts before a delivery is marked failed."""
    retry_base_seconds: float = Field(default=10.0, gt=0)
    """First retry delay; doubles per attempt."""
    retry_max_seconds: float = Field(default=6 * 3600.0, gt=0)
    """Cap on the retry delay."""
    disable_after_gone: int = Field(default=3, ge=1)
    """An endpoint answering 410 Gone this many times in a row is disabled."""
    allow_private_urls: bool = False
    """Accept endpoint URLs on loopback/private hosts (development and tests only)."""
    secret_overlap_seconds: int = Field(default=24 * 3600, ge=0, le=7 * 24 * 3600)
    """After a secret rotation, deliveries are signed with the old secret too for this long
    (unless the rotation names its own overlap)."""


class AuditSettings(BaseSettings):
    model_config = _group("AUDIT_")

    retention_days: int = Field(default=730, ge=0, le=36_500)
    """Audit entries older than this are deleted by the worker, once a day; 0 keeps them."""


class WorkerSettings(BaseSettings):
    model_config = _group("WORKER_")

    done_job_retention_days: int = Field(default=7, ge=0, le=36_500)
    """Jobs that ran to the end are deleted by the worker this many days after, checked
    hourly; 0 keeps them."""
    failed_job_retention_days: int = Field(default=30, ge=0, le=36_500)
    """Jobs that failed for good (their `last_error` says why) are kept this long; 0 keeps
    them."""
    delivered_event_retention_days: int = Field(default=7, ge=0, le=36_500)
    """Outbox events delivered this many days ago are deleted; 0 keeps them. An event not
    delivered yet is never deleted."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BOXOFFICE_", extra="ignore")

    environment: str = "development"
    """`development`, `test` or `production`; production refuses the default JWT secret."""
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    embedded: EmbeddedSettings = Field(default_factory=EmbeddedSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    google: GoogleSettings = Field(default_factory=GoogleSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    booking: BookingSettings = Field(default_factory=BookingSettings)
    waitlist: WaitlistSettings = Field(default_factory=WaitlistSettings)

    payment: PaymentSettings = Field(default_factory=PaymentSettings)

    notification: NotificationSettings = Field(default_factory=NotificationSettings)
    email: EmailSettings = Field(default_factory=EmailSettings)
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
