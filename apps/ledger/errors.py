"""Error codes of the ledger and funding (statuses registered in apps.core.errors)."""

from enum import StrEnum

from apps.core.errors import ErrorCode, register_status


class LedgerErrorCode(StrEnum):
    INSUFFICIENT_FUNDS = ErrorCode.INSUFFICIENT_FUNDS  # 422: a client cash bucket would go negative
    INSUFFICIENT_POSITION = ErrorCode.INSUFFICIENT_POSITION  # 422: same for securities
    LIMIT_EXCEEDED = ErrorCode.LIMIT_EXCEEDED  # 422: per-request or daily withdrawal limit
    INVALID_STATE = ErrorCode.INVALID_STATE  # 409: illegal transition, or account not open
    OTP_REQUIRED = ErrorCode.OTP_REQUIRED  # 401: withdrawal without a valid one-time password
    PERMISSION_DENIED = ErrorCode.PERMISSION_DENIED  # 403: role, or four-eyes rule
    CONFLICT = ErrorCode.CONFLICT  # 409: a key reused for a different request
    INVALID_SIGNATURE = "invalid_signature"  # 401: bank webhook not signed with our secret


register_status(LedgerErrorCode.INVALID_SIGNATURE, 401)
