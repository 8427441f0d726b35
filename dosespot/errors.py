"""Typed DoseSpot failures: each says whether a retry can help.

Messages carry the HTTP status, DoseSpot's own description and field names, never a
request body or query string: both hold clinician and patient data.
"""

from __future__ import annotations

from typing import Any

DEFAULT_RATE_LIMIT_BACKOFF = 10.0
"""Seconds DoseSpot asks clients to wait once a rate limit is passed."""


class DoseSpotError(Exception):
    """Any failure talking to DoseSpot."""

    retryable_by_default = False

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        request_id: str | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.request_id = request_id
        self.retryable = self.retryable_by_default if retryable is None else retryable
        self.retry_after = retry_after

    def __str__(self) -> str:
        parts = [self.message]
        if self.http_status is not None:
            parts.append(f"HTTP {self.http_status}")
        if self.request_id:
            parts.append(f"request id {self.request_id}")
        return " | ".join(parts)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, http_status={self.http_status!r}, "
            f"request_id={self.request_id!r}, retryable={self.retryable!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only attributes would be lost by Exception's default pickling, which
        # matters when errors cross process boundaries (workers, test runners).
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))


def _rebuild(cls: type[DoseSpotError], message: str, state: dict[str, Any]) -> DoseSpotError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class DoseSpotUnavailable(DoseSpotError):
    """DoseSpot could not be reached, timed out or failed on its side (5xx)."""

    retryable_by_default = True


class DoseSpotRateLimited(DoseSpotError):
    """DoseSpot answered 429; ``retry_after`` says how long to wait."""

    retryable_by_default = True

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = 429,
        request_id: str | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            message,
            http_status=http_status,
            request_id=request_id,
            retryable=retryable,
            retry_after=DEFAULT_RATE_LIMIT_BACKOFF if retry_after is None else retry_after,
        )


class DoseSpotAuthError(DoseSpotError):
    """The token was refused (bad clinic, key or user) or a fresh token still got 401."""


class DoseSpotValidationError(DoseSpotError):
    """HTTP 400 with ASP.NET model-state errors; ``field_errors`` maps field to messages."""

    def __init__(
        self,
        message: str,
        *,
        field_errors: dict[str, list[str]] | None = None,
        http_status: int | None = 400,
        request_id: str | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            message,
            http_status=http_status,
            request_id=request_id,
            retryable=retryable,
            retry_after=retry_after,
        )
        self.field_errors: dict[str, list[str]] = dict(field_errors or {})


class DoseSpotRefused(DoseSpotError):
    """DoseSpot answered with ``Result.ResultCode`` other than OK (often on HTTP 200)."""

    def __init__(
        self,
        message: str,
        *,
        description: str | None = None,
        http_status: int | None = None,
        request_id: str | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            message,
            http_status=http_status,
            request_id=request_id,
            retryable=retryable,
            retry_after=retry_after,
        )
        self.description = description


class DoseSpotNotFound(DoseSpotError):
    """HTTP 404: the clinic, clinician or route does not exist."""


class DoseSpotUnexpectedResponse(DoseSpotError):
    """A success status whose body is not the shape the Swagger promises."""


class UnknownEnumValue(ValueError):
    """A value that names no member of a DoseSpot enum."""

    def __init__(self, enum_name: str, value: object) -> None:
        super().__init__(f"{value!r} is not a known {enum_name}")
        self.enum_name = enum_name
        self.value = value

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.enum_name, self.value))


class UnknownRegistrationStatus(UnknownEnumValue, DoseSpotError):
    """A registration status we do not know: treated as not registered, never guessed."""

    def __init__(self, enum_name: str, value: object) -> None:
        UnknownEnumValue.__init__(self, enum_name, value)
        DoseSpotError.__init__(self, f"{value!r} is not a known {enum_name}", retryable=False)
