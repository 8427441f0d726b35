"""Single sign-on links into DoseSpot's embedded prescribing UI. Pure: no I/O, no clock.

The link proves that its maker holds the clinic key without carrying the key:

- a phrase of 32 random letters and digits;
- ``SingleSignOnCode`` = phrase + base64(SHA-512(phrase + ClinicKey));
- ``SingleSignOnUserIdVerify`` = base64(SHA-512(UserId + phrase[:22] + ClinicKey));

both digests without their trailing ``=``. The only patient reference a link may carry is
DoseSpot's own PatientId: names, dates of birth and the like never go into a URL, where
browsers, proxies and logs keep them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit, urlunsplit

PHRASE_LENGTH = 32
USER_ID_PHRASE_CHARS = 22
PHRASE_ALPHABET = string.ascii_letters + string.digits


def new_phrase(length: int = PHRASE_LENGTH) -> str:
    """A fresh random phrase of letters and digits, from a cryptographic source."""
    return "".join(secrets.choice(PHRASE_ALPHABET) for _ in range(length))


def _digest(text: str) -> str:
    return base64.b64encode(hashlib.sha512(text.encode("utf-8")).digest()).decode().rstrip("=")


def sso_code(phrase: str, clinic_key: str) -> str:
    """``SingleSignOnCode``: the phrase followed by its keyed digest."""
    return phrase + _digest(phrase + clinic_key)


def sso_user_id_verify(phrase: str, clinic_key: str, user_id: int) -> str:
    """``SingleSignOnUserIdVerify``: binds the user to the phrase and the clinic key."""
    return _digest(f"{int(user_id)}{phrase[:USER_ID_PHRASE_CHARS]}{clinic_key}")


def sso_parameters(
    clinic_id: int,
    clinic_key: str,
    user_id: int,
    *,
    patient_id: int | None = None,
    refills_errors: bool = False,
    on_behalf_of_user_id: int | None = None,
    encounter_id: int | str | None = None,
    phrase: str | None = None,
) -> dict[str, str]:
    """The query parameters of an SSO link, in DoseSpot's order.

    ``patient_id`` (DoseSpot's id) opens that patient; ``refills_errors`` adds
    ``RefillsErrors=1``, which DoseSpot's guide shows without a PatientId to open the
    "Refill Requests and Transmission Errors" queues. ``phrase`` is for tests; by default a
    new random phrase is drawn for every link.
    """
    if phrase is None:
        phrase = new_phrase()
    elif len(phrase) != PHRASE_LENGTH or any(ch not in PHRASE_ALPHABET for ch in phrase):
        raise ValueError(f"an SSO phrase is {PHRASE_LENGTH} ASCII letters and digits")
    params = {
        "SingleSignOnClinicId": str(int(clinic_id)),
        "SingleSignOnUserId": str(int(user_id)),
        "SingleSignOnPhraseLength": str(PHRASE_LENGTH),
        "SingleSignOnCode": sso_code(phrase, clinic_key),
        "SingleSignOnUserIdVerify": sso_user_id_verify(phrase, clinic_key, user_id),
    }
    # Integers only: a DoseSpot id is the one patient reference allowed in a URL.
    if patient_id is not None:
        params["PatientId"] = str(int(patient_id))
    if refills_errors:
        params["RefillsErrors"] = "1"
    if on_behalf_of_user_id is not None:
        params["OnBehalfOfUserId"] = str(int(on_behalf_of_user_id))
    if encounter_id is not None:
        encounter = str(encounter_id).strip()
        if not encounter:
            raise ValueError("encounter_id must not be blank")
        params["EncounterID"] = encounter
    return params


def build_sso_url(
    sso_base_url: str,
    clinic_id: int,
    clinic_key: str,
    user_id: int,
    *,
    patient_id: int | None = None,
    refills_errors: bool = False,
    on_behalf_of_user_id: int | None = None,
    encounter_id: int | str | None = None,
    phrase: str | None = None,
) -> str:
    """``sso_base_url`` (``.../LoginSingleSignOn.aspx``) with the SSO parameters added.

    Every value is percent-encoded: the digests contain ``+`` and ``/``, and a bare ``+``
    would reach DoseSpot as a space.
    """
    params = sso_parameters(
        clinic_id,
        clinic_key,
        user_id,
        patient_id=patient_id,
        refills_errors=refills_errors,
        on_behalf_of_user_id=on_behalf_of_user_id,
        encounter_id=encounter_id,
        phrase=phrase,
    )
    parts = urlsplit(sso_base_url)
    query = "&".join(part for part in (parts.query, urlencode(params)) if part)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _same(left: str, right: str) -> bool:
    return hmac.compare_digest(left.encode("utf-8"), right.encode("utf-8"))


def verify_sso(params: Mapping[str, str], clinic_key: str, user_id: int) -> bool:
    """Whether decoded SSO parameters were made with ``clinic_key`` for ``user_id``."""
    try:
        length = int(params.get("SingleSignOnPhraseLength", ""))
    except ValueError:
        return False
    code = params.get("SingleSignOnCode") or ""
    verify = params.get("SingleSignOnUserIdVerify") or ""
    if length < USER_ID_PHRASE_CHARS or len(code) <= length or not verify:
        return False
    if (params.get("SingleSignOnUserId") or "").strip() != str(int(user_id)):
        return False
    phrase = code[:length]
    code_ok = _same(code, sso_code(phrase, clinic_key))
    user_ok = _same(verify, sso_user_id_verify(phrase, clinic_key, user_id))
    return code_ok and user_ok


__all__ = [
    "PHRASE_LENGTH",
    "build_sso_url",
    "new_phrase",
    "sso_code",
    "sso_parameters",
    "sso_user_id_verify",
    "verify_sso",
]
