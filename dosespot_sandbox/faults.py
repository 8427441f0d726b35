"""Injected failures, matched by method and by path relative to ``/webapi/v2/``."""

from __future__ import annotations

import fnmatch
import random
import threading
from typing import Literal

from pydantic import BaseModel, Field, model_validator

FaultKind = Literal[
    "error_5xx", "error_4xx", "result_error", "rate_limit", "slow", "timeout_after_commit"
]


def path_matches(pattern: str, path: str) -> bool:
    """A glob matches the whole path; a plain pattern matches that path and everything below it."""
    pattern = pattern.strip("/")
    path = path.strip("/")
    if any(ch in pattern for ch in "*?["):
        return fnmatch.fnmatchcase(path.lower(), pattern.lower())
    return path.lower() == pattern.lower() or path.lower().startswith(pattern.lower() + "/")


class FaultRule(BaseModel):
    method: str = "*"
    path: str = "*"
    kind: FaultKind
    probability: float = Field(default=1.0, ge=0.0, le=1.0)
    times: int | None = Field(default=None, ge=0)
    delay_seconds: float = Field(default=0.0, ge=0.0)
    # error_5xx: 5xx (default 500); error_4xx: 4xx (default 400).
    status_code: int = Field(default=500, ge=400, le=599)
    # result_error's ResultDescription, error_4xx's Message; DoseSpot's wording if left out.
    description: str | None = None

    @model_validator(mode="after")
    def _status_fits_kind(self) -> FaultRule:
        if self.kind == "error_4xx":
            if "status_code" not in self.model_fields_set:
                self.status_code = 400
            elif self.status_code >= 500:
                raise ValueError("error_4xx needs a 4xx status_code")
        elif self.kind == "error_5xx" and self.status_code < 500:
            raise ValueError("error_5xx needs a 5xx status_code")
        return self

    def matches(self, method: str, path: str) -> bool:
        return (self.method == "*" or self.method.upper() == method.upper()) and path_matches(
            self.path, path
        )


class FaultSettings(BaseModel):
    rules: list[FaultRule] = Field(default_factory=list)
    seed: int | None = None


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._rng = random.Random()

    def configure(self, settings: FaultSettings) -> None:
        with self._lock:
            self._rules = [rule.model_copy() for rule in settings.rules]
            self._rng = random.Random(settings.seed)

    def clear(self) -> None:
        self.configure(FaultSettings())

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return [rule.model_copy() for rule in self._rules]

    def pick(self, method: str, path: str) -> FaultRule | None:
        """The first matching rule whose dice roll hits; its ``times`` is used up by one."""
        with self._lock:
            for rule in self._rules:
                if rule.times == 0 or not rule.matches(method, path):
                    continue
                if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                    continue
                if rule.times is not None:
                    rule.times -= 1
                return rule.model_copy()
        return None
