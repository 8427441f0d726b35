"""``make bench``: figures, measured, not asserted, each beside its anchor.

The micro-benchmarks time the hot pure paths: payload encryption runs on every Temporal
payload of every client and worker; input validation on every API request; envelope
parsing on every DoseSpot answer. Then, on a stack of their own (``bench.stack``):

(a) clinicians from invitation to verified through the API, worker and sandbox, against
    a bare-Temporal workflow of the same shape (``bench.bare``), with history events per
    clinician for both;
(b) the main routes' latency and throughput at 50 concurrent clients against a trivial
    route of the same app, and the load generator's own CPU share (``bench.routes``);
(c) the worker's RSS with 1,000 and 10,000 open enrollments, and push -> visible state
    latency (``bench.memory``).

``--small`` runs each on a few clinicians (the tests use it); ``--profile DIR`` records the
API, the worker and the sandbox with py-spy during (a)'s product run and writes their
profiles there (``python -m bench.cpu DIR`` prints the hottest functions).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from temporalio.api.common.v1 import Payload

from api.clinician_schemas import EnrollmentFormIn
from dosespot.protocol import Reply, parse_clinician
from erx.codec import EncryptionCodec
from erx.settings import Settings

FORM = {
    "date_of_birth": "04/27/1980",
    "npi": "1234567893",
    "phone": "+1 646 736 0134",
    "professional_address": {
        "street_address": "350 Fifth Avenue",
        "city": "New York",
        "state": "NY",
        "zip_code": "10118",
    },
    "locations": [{"location_id": "loc-main", "is_default": True, "dea_number": "AB1234563"}],
}
CLINICIAN = {
    "Item": {
        "ClinicianId": 10002,
        "FirstName": "Ada",
        "LastName": "Lovelace",
        "DateOfBirth": "1980-04-27T00:00:00",
        "Address1": "350 Fifth Avenue",
        "City": "New York",
        "State": "NY",
        "ZipCode": "10118",
        "PrimaryPhone": "6467360134",
        "PrimaryPhoneType": "Work",
        "PrimaryFax": "2127365001",
    },
    "Result": {"ResultCode": "OK", "ResultDescription": ""},
}


def measure(name: str, fn: Callable[[], object], seconds: float = 1.0) -> float:
    """Operations per second of ``fn``, printed."""
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        count += 1
    elapsed = time.perf_counter() - start
    print(
        f"{name:<44} {count / elapsed:>12,.0f} ops/s {elapsed / count * 1e6:>10.1f} us/op",
        flush=True,
    )
    return count / elapsed


def micro(seconds: float = 1.0) -> dict[str, float]:
    """Operations per second of each hot pure path."""
    settings = Settings()
    codec = EncryptionCodec(settings.codec_keys, settings.codec_active_key_id)
    payload = Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(FORM).encode() * 4)
    loop = asyncio.new_event_loop()
    sealed = loop.run_until_complete(codec.encode([payload]))
    reply = Reply(status=200, headers={}, body=json.dumps(CLINICIAN).encode())

    ops = {
        "codec encode (1 KiB payload)": measure(
            "codec encode (1 KiB payload)",
            lambda: loop.run_until_complete(codec.encode([payload])),
            seconds,
        ),
        "codec decode (1 KiB payload)": measure(
            "codec decode (1 KiB payload)",
            lambda: loop.run_until_complete(codec.decode(sealed)),
            seconds,
        ),
        "enrollment form validation": measure(
            "enrollment form validation", lambda: EnrollmentFormIn.model_validate(FORM), seconds
        ),
        "DoseSpot clinician envelope parse": measure(
            "DoseSpot clinician envelope parse", lambda: parse_clinician(reply), seconds
        ),
    }
    loop.close()
    return ops


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from bench.end_to_end import Options, run_end_to_end

    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="a few clinicians, for the tests")
    parser.add_argument("--clinicians", type=int, default=None, help="(a): default 200")
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="(a): anchor and product runs, alternately, on new clinicians; default 3",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=["micro", "journey", "routes", "memory"],
        help="run only these (repeatable)",
    )
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results.json")
    parser.add_argument("--profile", type=Path, default=None, help="write API/worker profiles here")
    parser.add_argument(
        "--open",
        default=None,
        help="(c): counts of open enrollments to measure at, e.g. 1000,10000 (the default)",
    )
    parser.add_argument(
        "--record-timeout",
        type=float,
        default=None,
        help="(c): seconds to wait for the invited enrollments to be recorded (default 3600)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting of the stack's processes, e.g. worker_max_cached_workflows=200",
    )
    args = parser.parse_args(argv)
    only = set(args.only or ["micro", "journey", "routes", "memory"])
    options = Options.small() if args.small else Options()
    if args.clinicians is not None:
        options.clinicians = args.clinicians
    if args.rounds is not None:
        options.rounds = args.rounds
    options.parts = only - {"micro"}
    options.profile_dir = args.profile
    if args.open:
        options.open_counts = [int(count) for count in args.open.split(",")]
    if args.record_timeout is not None:
        options.record_timeout = args.record_timeout
    options.overrides = dict(item.split("=", 1) for item in args.set)

    results: dict[str, Any] = {"machine": machine()}
    if "micro" in only:
        results["micro_ops_per_second"] = micro(0.2 if args.small else 1.0)
    if options.parts:
        results |= asyncio.run(run_end_to_end(options))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwrote {args.output}")
    return results


def machine() -> dict[str, Any]:
    """Where the figures come from."""
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
    }


if __name__ == "__main__":
    main()
