"""Phone verification by one-time code: request (rate-limited), verify (attempt-limited)."""

import hmac
import uuid
from datetime import timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth import repository
from boxoffice.auth.errors import OtpAttemptsExceeded, OtpExpired, OtpInvalid, OtpNotRequested
from boxoffice.auth.models import PhoneVerification, User
from boxoffice.auth.security import hash_otp_code, new_otp_code
from boxoffice.auth.sms import SmsSender
from boxoffice.config import AuthSettings
from boxoffice.kit.ratelimit import RateLimiter, enforce
from boxoffice.kit.time import utcnow

log = structlog.get_logger(__name__)


async def request_code(
    session: AsyncSession,
    settings: AuthSettings,
    limiter: RateLimiter,
    sender: SmsSender,
    user: User,
    *,
    phone: str,
    ip: str | None,
) -> int:
    """Text a fresh code to `phone` (earlier codes stop working); returns its lifetime."""
    window = settings.otp_window_seconds
    await enforce(
        limiter,
        f"otp:phone:{phone}",
        limit=settings.otp_requests_per_phone,
        window_seconds=window,
        what="codes requested for this phone",
    )
    if ip:
        await enforce(
            limiter,
            f"otp:ip:{ip}",
            limit=settings.otp_requests_per_ip,
            window_seconds=window,
            what="codes requested from this address",
        )
    await repository.supersede_phone_codes(session, user.id, phone)
    code = new_otp_code()
    verification_id = uuid.uuid4()
    await repository.add_phone_code(
        session,
        PhoneVerification(
            id=verification_id,
            user_id=user.id,
            phone=phone,
            code_hash=hash_otp_code(settings, verification_id, code),
            attempts=0,
            expires_at=utcnow() + timedelta(seconds=settings.otp_ttl_seconds),
        ),
    )
    minutes = max(1, settings.otp_ttl_seconds // 60)
    await sender.send(phone, f"Your boxoffice code is {code}. It expires in {minutes} min.")
    log.info("phone_code_sent", user_id=str(user.id), verification_id=str(verification_id))
    return settings.otp_ttl_seconds


async def verify_code(
    session: AsyncSession, settings: AuthSettings, user: User, *, phone: str, code: str
) -> User:
    """Check the code; on success the phone becomes the user's verified number.

    A wrong code raises `OtpInvalid` after counting the attempt: the caller must let the
    transaction commit (the router returns the error instead of raising it).
    """
    pending = await repository.pending_phone_code(session, user.id, phone)
    if pending is None:
        raise OtpNotRequested()
    if pending.expires_at <= utcnow():
        raise OtpExpired()
    attempts = await repository.count_phone_code_attempt(
        session, pending.id, settings.otp_max_attempts
    )
    if attempts is None:
        raise OtpAttemptsExceeded()
    if not hmac.compare_digest(hash_otp_code(settings, pending.id, code), pending.code_hash):
        left = settings.otp_max_attempts - attempts
        log.info("phone_code_wrong", user_id=str(user.id), attempts_left=left)
        raise OtpInvalid(extra={"attempts_left": left})
    if not await repository.consume_phone_code(session, pending.id):
        raise OtpNotRequested()
    user.phone = phone
    user.phone_verified_at = utcnow()
    await session.flush()
    await session.refresh(user)
    log.info("phone_verified", user_id=str(user.id))
    return user
