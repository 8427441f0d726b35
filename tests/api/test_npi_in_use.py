"""One clinician enrolls once: an NPI already enrolled for another member is refused."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import ClinicianEnrollment
from tests.api.test_clinician_journey import Journey, valid_dea, valid_npi


async def clinician_lookups(j: Journey) -> int:
    log = await j.sandbox.get("/_sandbox/requests", params={"path": "api/clinician*"})
    return len(log.json())


async def test_a_second_enrollment_of_one_npi_is_refused_before_dosespot(
    journey: Journey,
) -> None:
    j = journey
    await j.register_clinic()
    await j.add_member("m_grace", "Grace", "Hopper")
    npi = valid_npi()
    await j.scenario(npi, confirmation_delay_seconds=0.2)
    await j.invite("m_ada", "m_grace")
    assert (await j.enroll("m_ada", npi, valid_dea("AL"))).status_code == 200

    before = await clinician_lookups(j)
    resp = await j.enroll("m_grace", npi, None)
    assert resp.status_code == 409, resp.text
    assert "member m_ada" in resp.json()["detail"]
    assert await clinician_lookups(j) == before, "nothing reached DoseSpot"
    grace = await j.clinician("m_grace")
    assert grace["state"] == "invited"
    # Ada re-submitting her own enrollment is not a conflict.
    assert (await j.enroll("m_ada", npi, valid_dea("AL"))).status_code in (200, 409)


async def test_an_npi_linked_elsewhere_fails_the_registration_once_not_forever(
    journey: Journey, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """An enrollment made before NPI fingerprints existed holds the DoseSpot clinician: the
    second registration finds it by NPI and stops with the reason instead of retrying."""
    j = journey
    await j.register_clinic()
    await j.add_member("m_grace", "Grace", "Hopper")
    npi = valid_npi()
    await j.scenario(npi, confirmation_delay_seconds=0.2)
    await j.invite("m_ada", "m_grace")
    assert (await j.enroll("m_ada", npi, valid_dea("AL"))).status_code == 200
    async with sessionmaker() as session:
        await session.execute(
            update(ClinicianEnrollment)
            .where(
                ClinicianEnrollment.workspace_id == j.ws.id,
                ClinicianEnrollment.member_id == "m_ada",
            )
            .values(npi_fingerprint=None)
        )
        await session.commit()

    resp = await j.enroll("m_grace", npi, None)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "registration_failed"
    grace = body["clinician"]
    assert grace["state"] == "registration_failed"
    assert grace["blocked"]["reason"] == "npi_in_use"
    assert grace["blocked"]["error_type"] == "NpiInUse"
    # Deactivating her is at once possible.
    gone = await j.api.delete(f"{j.base}/erx/clinicians/m_grace", headers=j.headers())
    assert gone.status_code == 200 and gone.json()["state"] == "deactivated", gone.text
