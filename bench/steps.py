"""Wall time of each step of one clinician's way from invited to verified, so (a) can say
where the product's clinicians spend their time against the bare anchor's."""

from __future__ import annotations

import statistics
import time

# The steps, in order, both sides of (a) time: the enrollment form until DoseSpot's
# confirmation is visible, the start of identity proofing (with DoseSpot's sign-in page for
# the product), and identity proofing until ``verified`` is visible.
STEPS = ("form", "verification", "verified")


class Steps:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def done(self, step: str) -> None:
        now = time.perf_counter()
        self.seconds[step] = now - self._last
        self._last = now


def median_steps(clinicians: list[dict[str, float]]) -> dict[str, float]:
    """Each step's median over the clinicians, seconds."""
    return {step: statistics.median(c[step] for c in clinicians) for step in STEPS}


def slowest_steps(clinicians: list[dict[str, float]]) -> dict[str, float]:
    """Each step's 90th percentile over the clinicians, seconds (the median with fewer than
    ten)."""
    if len(clinicians) < 10:
        return median_steps(clinicians)
    return {step: statistics.quantiles((c[step] for c in clinicians), n=10)[-1] for step in STEPS}
