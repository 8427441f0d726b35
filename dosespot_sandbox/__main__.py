"""``python -m dosespot_sandbox --host 127.0.0.1 --port 8090 [--state PATH]``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import uvicorn

from dosespot_sandbox.app import create_app
from dosespot_sandbox.config import SandboxConfig
from erx.settings import get_settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m dosespot_sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--state", type=Path, default=None, help="SQLite file for durable state")
    parser.add_argument("--notify-url", default=None, help="where push notifications are POSTed")
    parser.add_argument(
        "--confirmation-delay",
        type=float,
        default=None,
        help="seconds before a new clinician is confirmed (default 2)",
    )
    parser.add_argument(
        "--minor-max-age",
        type=int,
        default=None,
        help="patients this old or younger need height and weight (default 18)",
    )
    parser.add_argument(
        "--prescription-sent-delay",
        type=float,
        default=None,
        help="seconds from Sending to eRxSent (or Error) for a prescription (default 1)",
    )
    parser.add_argument(
        "--pharmacy-verified-delay",
        type=float,
        default=None,
        help="seconds from eRxSent to PharmacyVerified (default 5)",
    )
    parser.add_argument(
        "--pharmacy-fill-delay",
        type=float,
        default=None,
        help="seconds from PharmacyVerified to FullFill at pharmacies that report fills "
        "(default: they never do)",
    )
    args = parser.parse_args(argv)

    overrides: dict[str, object] = {"state_path": args.state, "notification_url": args.notify_url}
    for option, field in (
        ("confirmation_delay", "default_confirmation_delay_seconds"),
        ("minor_max_age", "minor_max_age"),
        ("prescription_sent_delay", "prescription_sent_delay_seconds"),
        ("pharmacy_verified_delay", "pharmacy_verified_delay_seconds"),
        ("pharmacy_fill_delay", "pharmacy_fill_delay_seconds"),
    ):
        if getattr(args, option) is not None:
            overrides[field] = getattr(args, option)
    config = SandboxConfig.from_settings(get_settings(), **overrides)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # uvicorn's access log prints query strings, which can carry patient data.
    uvicorn.run(create_app(config), host=args.host, port=args.port, access_log=False)


if __name__ == "__main__":
    main()
