"""Our own non-retryable failures, raised by activities and named in retry policies.

Each is an ``ApplicationError`` whose ``type`` is its class name, so a workflow's retry
policy and its blocked-state mapping refer to the class, never to a copied string.
"""

from __future__ import annotations

from typing import Any, ClassVar

from temporalio.exceptions import ApplicationError


class ActionRefused(ApplicationError):
    """An update that does not fit the current state (HTTP 409): type ``ActionNotAllowed``,
    with the state and the actions open in it. Each workflow names its ``subject`` and the
    function that lists its ``allowed`` actions."""

    subject: ClassVar[str]

    @staticmethod
    def allowed(state: str) -> list[str]:
        raise NotImplementedError

    def __init__(self, action: str, state: str, message: str | None = None) -> None:
        super().__init__(
            message or f"{action} is not allowed while the {self.subject} is {state}",
            {"state": state, "allowed_actions": type(self).allowed(state)},
            type="ActionNotAllowed",
            non_retryable=True,
        )


class DomainFailure(ApplicationError):
    """A refusal that retrying cannot change: data is missing or was refused."""

    def __init__(self, message: str, *details: Any) -> None:
        super().__init__(message, *details, type=type(self).__name__, non_retryable=True)


class ClinicNotRegistered(DomainFailure):
    """The DoseSpot clinic the call acts in is not registered with us."""


class LocationNotFound(DomainFailure):
    """The practice location a clinic is registered for does not exist."""


class MemberNotFound(DomainFailure):
    """The team member an email is for does not exist."""


class NpiInUse(DomainFailure):
    """The NPI's DoseSpot clinician is already linked to another enrollment of ours."""


class MailRejected(DomainFailure):
    """The mail server refused the message for good."""
