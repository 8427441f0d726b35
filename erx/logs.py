"""Logging for the API and the worker: ids only, never PHI.

The HTTP client logs every request's URL at INFO, and DoseSpot's URLs carry patient and
clinician details in their query strings (a patient search by name and date of birth, a
clinician look-up by NPI), so its request logging is kept to warnings; so is the SQLite
driver's, which logs every statement with its parameters at DEBUG.
"""

from __future__ import annotations

import logging

# Loggers whose INFO or DEBUG lines would carry request URLs or SQL parameters.
QUIET = ("httpx", "httpcore", "aiosqlite")


def quiet_phi_loggers() -> None:
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    quiet_phi_loggers()
