from boxoffice.kit.errors import (
    BadRequest,
    BoxofficeError,
    Conflict,
    Forbidden,
    Gone,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
    Unprocessable,
)


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    title = "E-mail or password is wrong"


class InvalidAccessToken(Unauthorized):
    code = "invalid_token"
    title = "The access token is missing, invalid or expired"


class SessionRevoked(Unauthorized):
    code = "session_revoked"
    title = "This session was signed out; sign in again"


class AccountDisabled(Unauthorized):
    code = "account_disabled"
    title = "This account is deactivated"


class PermissionDenied(Forbidden):
    code = "permission_denied"
    title = "Your role does not allow this"


class EmailTaken(Conflict):
    code = "email_taken"
    title = "An account with this e-mail address exists"


class WeakPassword(Unprocessable):
    code = "weak_password"
    title = "The password does not meet the rules"


class WrongPassword(Forbidden):
    code = "wrong_password"
    title = "The current password is wrong"


class InvalidRefreshToken(Unauthorized):
    code = "invalid_refresh_token"
    title = "The refresh token is unknown, expired or revoked; sign in again"


class RefreshTokenReused(Unauthorized):
    code = "refresh_token_reused"
    title = "This refresh token was already used; the session is revoked, sign in again"


class SessionNotFound(NotFound):
    code = "session_not_found"
    title = "No such session"


class OtpNotRequested(NotFound):
    code = "otp_not_requested"
    title = "No verification code is pending for this phone; request one"


class OtpInvalid(Unprocessable):
    code = "otp_invalid"
    title = "The verification code is wrong"


class OtpExpired(Gone):
    code = "otp_expired"
    title = "The verification code has expired; request a new one"


class OtpAttemptsExceeded(Gone):
    code = "otp_attempts_exceeded"
    title = "Too many wrong codes; request a new one"


class GoogleSignInDisabled(ServiceUnavailable):
    code = "google_sign_in_disabled"
    title = "Sign in with Google is not configured on this server"


class OAuthStateInvalid(BadRequest):
    code = "oauth_state_invalid"
    title = "The sign-in request is unknown, used or expired; start again"


class OAuthCodeRejected(BadRequest):
    code = "oauth_code_rejected"
    title = "The identity provider refused the authorization code; start again"


class IdTokenInvalid(Unauthorized):
    code = "id_token_invalid"
    title = "The identity provider's ID token failed verification"


class EmailNotVerified(Forbidden):
    code = "email_not_verified"
    title = "The identity provider has not verified this e-mail address"


class ProviderUnavailable(BoxofficeError):
    status = 502
    code = "provider_unavailable"
    title = "The identity provider could not be reached or answered badly"


class PasswordResetTokenInvalid(BadRequest):
    code = "password_reset_token_invalid"
    title = "The password reset token is malformed, used or superseded; ask for a new one"


class PasswordResetTokenExpired(Gone):
    code = "password_reset_token_expired"
    title = "The password reset token has expired; ask for a new one"


class EmailVerificationTokenInvalid(BadRequest):
    code = "email_verification_token_invalid"
    title = "The verification token is malformed or for another address; ask for a new one"


class EmailVerificationTokenExpired(Gone):
    code = "email_verification_token_expired"
    title = "The verification token has expired; ask for a new one"


class EmailAlreadyVerified(Conflict):
    code = "email_already_verified"
    title = "Your e-mail address is verified already"
