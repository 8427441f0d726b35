"""Sliding-window rate limits per bucket: token, GET, writes and all calls."""

from __future__ import annotations

import threading
import time
from collections import deque

from dosespot_sandbox.config import RateLimits


class RateLimiter:
    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._calls: dict[str, deque[float]] = {}

    def configure(self, limits: RateLimits) -> None:
        with self._lock:
            self.limits = limits
            self._calls.clear()

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()

    def buckets(self, method: str, path: str) -> list[str]:
        if path.strip("/").lower() == "connect/token":
            kind = "token"
        elif method.upper() in {"GET", "HEAD"}:
            kind = "get"
        else:
            kind = "write"
        return [kind, "all"]

    def admit(self, method: str, path: str) -> bool:
        """Count the call unless a bucket is full; refused calls do not count."""
        now = time.monotonic()
        with self._lock:
            buckets = self.buckets(method, path)
            for bucket in buckets:
                calls = self._calls.setdefault(bucket, deque())
                while calls and calls[0] <= now - self.limits.window_seconds:
                    calls.popleft()
                if len(calls) >= getattr(self.limits, bucket):
                    return False
            for bucket in buckets:
                self._calls[bucket].append(now)
            return True
