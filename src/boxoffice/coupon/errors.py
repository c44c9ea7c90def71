from boxoffice.kit.errors import Conflict, Forbidden, NotFound, Unprocessable


class CouponNotFound(NotFound):
    code = "coupon_not_found"
    title = "No such coupon"


class CouponInactive(Unprocessable):
    code = "coupon_inactive"
    title = "This coupon has been deactivated"


class CouponExpired(Unprocessable):
    code = "coupon_expired"
    title = "This coupon has expired"


class CouponNotYetValid(Unprocessable):
    code = "coupon_not_yet_valid"
    title = "This coupon is not valid yet"


class CouponExhausted(Conflict):
    code = "coupon_exhausted"
    title = "This coupon has been used up"


class CouponPerUserLimit(Conflict):
    code = "coupon_per_user_limit"
    title = "You have used this coupon as often as allowed"


class CouponNotApplicable(Unprocessable):
    code = "coupon_not_applicable"
    title = "This coupon does not apply to this event"


class CouponCurrencyMismatch(Unprocessable):
    code = "currency_mismatch"
    title = "This coupon is for another currency"


class CouponCodeTaken(Conflict):
    code = "coupon_code_taken"
    title = "A coupon with this code already exists"


class CouponLimitBelowUse(Unprocessable):
    code = "coupon_limit_below_use"
    title = "The new limit is below the number of uses already made"


class CouponScopeForbidden(Forbidden):
    code = "coupon_scope_forbidden"
    title = "You can only make coupons for your own events"


class EventNotFound(NotFound):
    code = "event_not_found"
    title = "No such event"


class CouponInvalidWindow(Unprocessable):
    code = "coupon_invalid_window"
    title = "valid_until must be after valid_from"
