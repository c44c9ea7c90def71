"""HTTP for sign-in: register, login, refresh, logout, sessions, phone codes, Google."""

import uuid
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import JSONResponse

from boxoffice.auth import email_verification, google, password_reset, phone, service
from boxoffice.auth.dependencies import AppSettings, CurrentSessionId, CurrentUser
from boxoffice.auth.errors import OtpInvalid, RefreshTokenReused
from boxoffice.auth.schemas import (
    EmailVerificationSent,
    EmailVerify,
    GoogleAuthorization,
    GoogleCallback,
    LoginRequest,
    PasswordResetConfirm,
    PasswordResetRequest,
    PasswordResetRequested,
    PhoneCodeRequest,
    PhoneCodeSent,
    PhoneVerify,
    RefreshRequest,
    RegisterRequest,
    SessionRead,
    TokenResponse,
    UserRead,
)
from boxoffice.auth.sms import SmsSender, get_sms_sender
from boxoffice.db.engine import Session
from boxoffice.kit.errors import PROBLEM_RESPONSES, BoxofficeError, problem
from boxoffice.kit.lean_route import LeanRoute
from boxoffice.kit.ratelimit import Limiter, enforce

router = APIRouter(
    prefix="/api/auth", tags=["auth"], responses=PROBLEM_RESPONSES, route_class=LeanRoute
)


def client_of(request: Request) -> service.Client:
    return service.Client(
        user_agent=request.headers.get("user-agent"),
        ip=request.client.host if request.client else None,
    )


def token_response(issued: service.IssuedTokens) -> TokenResponse:
    return TokenResponse(
        access_token=issued.access_token,
        refresh_token=issued.refresh_token,
        expires_in=issued.expires_in,
        user=UserRead.model_validate(issued.user),
    )


def committed_error(request: Request, exc: BoxofficeError) -> JSONResponse:
    """Answer with `exc` while letting the request's transaction commit.

    For errors whose side effect must stick (a revoked token family, a counted attempt):
    raising would roll that back.
    """
    return problem(
        request,
        status=exc.status,
        code=exc.code,
        title=exc.title,
        detail=exc.detail,
        extra=exc.extra,
        headers=exc.headers,
    )


@router.post(
    "/register",
    response_model=TokenResponse,
    status_code=status.HTTP_201_CREATED,
    summary="Create an account and sign in",
)
async def register(
    request: Request,
    body: RegisterRequest,
    session: Session,
    settings: AppSettings,
    limiter: Limiter,
) -> TokenResponse:
    issued = await service.register(
        session,
        settings.auth,
        limiter,
        email=str(body.email),
        password=body.password,
        full_name=body.full_name,
        role=body.role,
        client=client_of(request),
    )
    return token_response(issued)


@router.post("/login", response_model=TokenResponse, summary="Sign in with e-mail and password")
async def login(
    request: Request,
    body: LoginRequest,
    session: Session,
    settings: AppSettings,
    limiter: Limiter,
) -> TokenResponse:
    issued = await service.login(
        session,
        settings.auth,
        limiter,
        email=body.email,
        password=body.password,
        client=client_of(request),
    )
    return token_response(issued)


@router.post(
    "/refresh-token",
    response_model=TokenResponse,
    summary="Trade a refresh token for a new pair (the old one is spent)",
)
async def refresh_token(
    request: Request, body: RefreshRequest, session: Session, settings: AppSettings
) -> TokenResponse | JSONResponse:
    try:
        issued = await service.refresh(
            session, settings.auth, refresh_token=body.refresh_token, client=client_of(request)
        )
    except RefreshTokenReused as exc:
        return committed_error(request, exc)
    return token_response(issued)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Sign out this session",
)
async def logout(session: Session, user: CurrentUser, session_id: CurrentSessionId) -> None:
    await service.logout(session, user, session_id)


@router.get("/sessions", response_model=list[SessionRead], summary="My signed-in devices")
async def list_sessions(
    session: Session, user: CurrentUser, session_id: CurrentSessionId
) -> list[SessionRead]:
    sessions = await service.list_sessions(session, user)
    return [
        SessionRead.model_validate(s).model_copy(update={"current": s.id == session_id})
        for s in sessions
    ]


@router.delete(
    "/sessions/{auth_session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Sign one of my devices out",
)
async def revoke_session(auth_session_id: uuid.UUID, session: Session, user: CurrentUser) -> None:
    await service.revoke_session(session, user, auth_session_id)


@router.delete(
    "/sessions",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Sign out every device except this one",
)
async def revoke_other_sessions(
    session: Session, user: CurrentUser, session_id: CurrentSessionId
) -> None:
    await service.revoke_other_sessions(session, user, session_id)


@router.post(
    "/email/request-verification",
    response_model=EmailVerificationSent,
    status_code=status.HTTP_202_ACCEPTED,
    summary="E-mail me a link to verify my address (again)",
)
async def request_email_verification(
    session: Session, settings: AppSettings, user: CurrentUser, limiter: Limiter
) -> EmailVerificationSent:
    await email_verification.request_again(session, settings.auth, limiter, user)
    return EmailVerificationSent(expires_in=settings.auth.email_verification_ttl_seconds)


@router.post("/email/verify", response_model=UserRead, summary="Verify my e-mail address")
async def verify_email(body: EmailVerify, session: Session, settings: AppSettings) -> UserRead:
    return UserRead.model_validate(
        await email_verification.verify(session, settings.auth, body.token)
    )


@router.post(
    "/password-reset/request",
    response_model=PasswordResetRequested,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Forgot your password: e-mail a reset token to the account's address",
)
async def request_password_reset(
    request: Request,
    body: PasswordResetRequest,
    session: Session,
    settings: AppSettings,
    limiter: Limiter,
) -> PasswordResetRequested:
    await password_reset.request_reset(
        session, settings.auth, limiter, email=str(body.email), ip=client_of(request).ip
    )
    return PasswordResetRequested(
        detail="If an active account uses this address, a reset e-mail is on its way",
        expires_in=settings.auth.password_reset_ttl_seconds,
    )


@router.post(
    "/password-reset/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Set a new password with the e-mailed token (signs out every device)",
)
async def confirm_password_reset(
    body: PasswordResetConfirm, session: Session, settings: AppSettings
) -> None:
    await password_reset.reset_password(
        session, settings.auth, token=body.token, new_password=body.new_password
    )


@router.post(
    "/phone/request-code",
    response_model=PhoneCodeSent,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Text a verification code to a phone number",
)
async def request_phone_code(
    request: Request,
    body: PhoneCodeRequest,
    session: Session,
    settings: AppSettings,
    user: CurrentUser,
    limiter: Limiter,
    sender: Annotated[SmsSender, Depends(get_sms_sender)],
) -> PhoneCodeSent:
    expires_in = await phone.request_code(
        session, settings.auth, limiter, sender, user, phone=body.phone, ip=client_of(request).ip
    )
    return PhoneCodeSent(phone=body.phone, expires_in=expires_in)


@router.post(
    "/phone/verify",
    response_model=UserRead,
    summary="Verify a phone number with the texted code",
)
async def verify_phone(
    request: Request, body: PhoneVerify, session: Session, settings: AppSettings, user: CurrentUser
) -> UserRead | JSONResponse:
    try:
        verified = await phone.verify_code(
            session, settings.auth, user, phone=body.phone, code=body.code
        )
    except OtpInvalid as exc:
        return committed_error(request, exc)
    return UserRead.model_validate(verified)


async def get_oidc_transport(request: Request) -> httpx.AsyncBaseTransport | None:
    """Transport for calls to the identity provider (tests inject a fake issuer)."""
    transport: httpx.AsyncBaseTransport | None = getattr(request.app.state, "oidc_transport", None)
    return transport


OidcTransport = Annotated[httpx.AsyncBaseTransport | None, Depends(get_oidc_transport)]


def _oidc_http(settings: AppSettings, transport: OidcTransport) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=transport, timeout=settings.google.http_timeout_seconds, follow_redirects=False
    )


async def get_oidc_cache(request: Request) -> google.OidcDocumentCache:
    """The process's cache of discovery documents and key sets, made on first use."""
    cache: google.OidcDocumentCache | None = getattr(request.app.state, "oidc_cache", None)
    if cache is None:
        cache = google.OidcDocumentCache()
        request.app.state.oidc_cache = cache
    return cache


OidcCache = Annotated[google.OidcDocumentCache, Depends(get_oidc_cache)]


@router.get(
    "/google/authorize",
    response_model=GoogleAuthorization,
    summary="Start Sign in with Google: the URL to send the browser to",
)
async def google_authorize(
    request: Request,
    session: Session,
    settings: AppSettings,
    transport: OidcTransport,
    cache: OidcCache,
    limiter: Limiter,
) -> GoogleAuthorization:
    ip = client_of(request).ip
    if ip:
        await enforce(
            limiter,
            f"oauth:ip:{ip}",
            limit=settings.auth.oauth_starts_per_ip,
            window_seconds=settings.auth.login_window_seconds,
            what="sign-ins started from this address",
        )
    async with _oidc_http(settings, transport) as http:
        oidc = google.OidcClient(http, cache)
        url, state = await google.authorize(session, settings.google, oidc)
    return GoogleAuthorization(authorization_url=url, state=state)


@router.post(
    "/google/callback",
    response_model=TokenResponse,
    summary="Finish Sign in with Google with the returned code and state",
)
async def google_callback(
    request: Request,
    body: GoogleCallback,
    session: Session,
    settings: AppSettings,
    transport: OidcTransport,
    cache: OidcCache,
) -> TokenResponse | JSONResponse:
    try:
        async with _oidc_http(settings, transport) as http:
            issued = await google.callback(
                session,
                settings.auth,
                settings.google,
                google.OidcClient(http, cache),
                code=body.code,
                state=body.state,
                client=client_of(request),
            )
    except BoxofficeError as exc:
        # The state stays spent even though sign-in failed: it is single-use.
        return committed_error(request, exc)
    return token_response(issued)
