"""DoseSpot errors as Temporal ApplicationErrors: the type names the error, retryability carries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from temporalio.exceptions import ApplicationError

from dosespot import DoseSpotError


@contextmanager
def dosespot_errors_as_application_errors() -> Iterator[None]:
    try:
        yield
    except DoseSpotError as err:
        raise ApplicationError(
            err.message,
            {"http_status": err.http_status, "request_id": err.request_id},
            type=type(err).__name__,
            non_retryable=not err.retryable,
            next_retry_delay=timedelta(seconds=err.retry_after) if err.retry_after else None,
        ) from err
