"""A faithful imitation of DoseSpot API v2 (clinics, clinicians, patients, pharmacies,
prescriptions), for development and tests."""

from dosespot_sandbox.app import create_app
from dosespot_sandbox.config import RateLimits, SandboxConfig

__all__ = ["RateLimits", "SandboxConfig", "create_app"]
