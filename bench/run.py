"""``make bench``: throughput of the hot pure paths, measured, not asserted.

Payload encryption runs on every Temporal payload of every client and worker;
input validation on every API request; envelope parsing on every DoseSpot answer.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

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


def measure(name: str, fn: Callable[[], object], seconds: float = 1.0) -> None:
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        count += 1
    elapsed = time.perf_counter() - start
    print(f"{name:<44} {count / elapsed:>12,.0f} ops/s {elapsed / count * 1e6:>10.1f} us/op")


def main() -> None:
    settings = Settings()
    codec = EncryptionCodec(settings.codec_keys, settings.codec_active_key_id)
    payload = Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(FORM).encode() * 4)
    loop = asyncio.new_event_loop()
    sealed = loop.run_until_complete(codec.encode([payload]))
    reply = Reply(status=200, headers={}, body=json.dumps(CLINICIAN).encode())

    measure(
        "codec encode (1 KiB payload)", lambda: loop.run_until_complete(codec.encode([payload]))
    )
    measure("codec decode (1 KiB payload)", lambda: loop.run_until_complete(codec.decode(sealed)))
    measure("enrollment form validation", lambda: EnrollmentFormIn.model_validate(FORM))
    measure("DoseSpot clinician envelope parse", lambda: parse_clinician(reply))
    loop.close()


if __name__ == "__main__":
    main()
