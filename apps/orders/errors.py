"""Error codes of order intake. All are API.md codes; the details name the rule that refused."""

from enum import StrEnum

from apps.core.errors import ErrorCode


class OrderErrorCode(StrEnum):
    INVALID = ErrorCode.INVALID  # 400: a field, tick, lot or price band
    INSUFFICIENT_FUNDS = ErrorCode.INSUFFICIENT_FUNDS  # 422: buying power short of the hold
    INSUFFICIENT_POSITION = ErrorCode.INSUFFICIENT_POSITION  # 422: not enough shares to sell
    KYC_REQUIRED = ErrorCode.KYC_REQUIRED  # 422: no approved KYC
    LIMIT_EXCEEDED = ErrorCode.LIMIT_EXCEEDED  # 422: fat-finger cap or daily KYC tier limit
    INSTRUMENT_NOT_TRADABLE = ErrorCode.INSTRUMENT_NOT_TRADABLE  # 422: status, session, access
    INVALID_STATE = ErrorCode.INVALID_STATE  # 409: account not active, order already final
    IDEMPOTENCY_CONFLICT = ErrorCode.IDEMPOTENCY_CONFLICT  # 422: client_order_id reused
