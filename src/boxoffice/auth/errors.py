from boxoffice.kit.errors import Forbidden, Unauthorized


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    title = "E-mail or password is wrong"


class InvalidAccessToken(Unauthorized):
    code = "invalid_token"
    title = "The access token is missing, invalid or expired"


class AccountDisabled(Unauthorized):
    code = "account_disabled"
    title = "This account is deactivated"


class PermissionDenied(Forbidden):
    code = "permission_denied"
    title = "Your role does not allow this"
