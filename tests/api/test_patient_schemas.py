"""The pediatric vitals rule, ages across birthdays and 29 February, and merging an eRx patient
registration request into the client record."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from typing import Any, get_args

import pytest
from pydantic import ValidationError

from api.errors import Unprocessable
from api.patient_schemas import (
    ClientUpsert,
    PatientRegistrationIn,
    PhoneType,
    patient_registration,
)
from db.models import Client
from dosespot.enums import PhoneType as DoseSpotPhoneType
from erx.vitals import (
    DOSESPOT_HEIGHT_METRIC,
    DOSESPOT_WEIGHT_METRIC,
    age_on,
    check_height,
    check_weight,
    parse_date_of_birth,
    vitals_required,
)

TODAY = date(2026, 11, 27)
MAX_AGE = 18


# Ages


@pytest.mark.parametrize(
    ("on", "age"),
    [
        (date(2026, 6, 14), 17),  # the day before the 18th birthday
        (date(2026, 6, 15), 18),  # the 18th birthday
        (date(2026, 6, 16), 18),
        (date(2027, 6, 14), 18),  # the day before the 19th birthday
        (date(2027, 6, 15), 19),  # the 19th birthday
        (date(2027, 6, 16), 19),
        (date(2008, 6, 15), 0),
        (date(2009, 6, 14), 0),
        (date(2009, 6, 15), 1),
    ],
)
def test_age_on_either_side_of_birthdays(on: date, age: int) -> None:
    assert age_on(date(2008, 6, 15), on) == age


@pytest.mark.parametrize(
    ("on", "age"),
    [
        (date(2026, 2, 28), 17),  # 2026 has no 29 February: not 18 until 1 March
        (date(2026, 3, 1), 18),
        (date(2027, 2, 28), 18),
        (date(2027, 3, 1), 19),
        (date(2028, 2, 28), 19),
        (date(2028, 2, 29), 20),  # a leap year: the birthday itself
        (date(2008, 2, 29), 0),
        (date(2009, 2, 28), 0),
        (date(2009, 3, 1), 1),
    ],
)
def test_age_of_someone_born_on_29_february(on: date, age: int) -> None:
    assert age_on(date(2008, 2, 29), on) == age


def test_age_before_birth_is_refused() -> None:
    with pytest.raises(ValueError, match="before the date of birth"):
        age_on(date(2020, 1, 2), date(2020, 1, 1))


@pytest.mark.parametrize(("age", "required"), [(0, True), (17, True), (18, True), (19, False)])
def test_vitals_required_at_and_under_the_cut_off(age: int, required: bool) -> None:
    assert vitals_required(age, MAX_AGE) is required


# Dates of birth


@pytest.mark.parametrize(
    ("text", "born"),
    [
        ("04/27/2012", date(2012, 4, 27)),
        ("2012-04-27", date(2012, 4, 27)),
        (" 02/29/2008 ", date(2008, 2, 29)),
        ("11/27/2026", TODAY),  # born today: a newborn
    ],
)
def test_date_of_birth_formats(text: str, born: date) -> None:
    assert parse_date_of_birth(text, TODAY) == born


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("11/28/2026", "in the future"),
        ("2030-01-01", "in the future"),
        ("02/29/2027", "not a real date"),
        ("13/01/2012", "not a real date"),
        ("2012-04-31", "not a real date"),
        ("4/28/2012", "MM/DD/YYYY"),
        ("27.04.2012", "MM/DD/YYYY"),
        ("2012-04-27T00:00:00", "MM/DD/YYYY"),
        ("\u0660\u0664/\u0662\u0667/\u0662\u0660\u0661\u0662", "MM/DD/YYYY"),
        ("01/01/1890", "years ago"),
    ],
)
def test_bad_dates_of_birth(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as refused:
        parse_date_of_birth(text, TODAY)
    assert text.strip() not in str(refused.value)


def test_date_of_birth_is_not_a_datetime() -> None:
    with pytest.raises(ValueError, match="not a date and time"):
        parse_date_of_birth(datetime(2012, 4, 27, tzinfo=UTC), TODAY)


# Vitals


@pytest.mark.parametrize(
    ("value", "unit"), [(20, "cm"), (250, "cm"), (8, "in"), (100, "in"), (170.2, "cm")]
)
def test_plausible_heights(value: float, unit: str) -> None:
    assert check_height(value, unit) == value


@pytest.mark.parametrize(
    ("value", "unit", "reason"),
    [
        (0, "cm", "greater than zero"),
        (-170, "cm", "greater than zero"),
        (19.9, "cm", "between 20 and 250"),
        (250.1, "cm", "between 20 and 250"),
        (7.9, "in", "between 8 and 100"),
        (170, "in", "between 8 and 100"),
        (1e9, "cm", "between"),
        (math.nan, "cm", "a number"),
        (math.inf, "cm", "a number"),
        (True, "cm", "a number"),
        (170, "m", "unit must be one of cm, in"),
    ],
)
def test_implausible_heights(value: float, unit: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_height(value, unit)


@pytest.mark.parametrize(
    ("value", "unit"), [(0.3, "kg"), (350, "kg"), (0.66, "lb"), (770, "lb"), (3.2, "kg")]
)
def test_plausible_weights(value: float, unit: str) -> None:
    assert check_weight(value, unit) == value


@pytest.mark.parametrize(
    ("value", "unit", "reason"),
    [
        (0, "kg", "greater than zero"),
        (-1, "lb", "greater than zero"),
        (0.29, "kg", "between 0.3 and 350"),
        (350.5, "kg", "between 0.3 and 350"),
        (0.65, "lb", "between 0.66 and 770"),
        (771, "lb", "between 0.66 and 770"),
        (math.nan, "kg", "a number"),
        (70, "g", "unit must be one of kg, lb"),
    ],
)
def test_implausible_weights(value: float, unit: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_weight(value, unit)


def test_units_map_to_dosespot_metrics() -> None:
    assert DOSESPOT_HEIGHT_METRIC == {"cm": "cm", "in": "inch"}
    assert DOSESPOT_WEIGHT_METRIC == {"kg": "kg", "lb": "lb"}


def test_phone_types_are_dosespots_but_undefined() -> None:
    names = {member.name for member in DoseSpotPhoneType}
    assert set(get_args(PhoneType)) == names - {"Undefined"}


# Merging the registration request into the client record


def client(**overrides: Any) -> Client:
    values: dict[str, Any] = {
        "workspace_id": "ws_test",
        "id": "cl_1",
        "first_name": "Ada",
        "middle_name": "Augusta",
        "last_name": "Lovelace",
        "date_of_birth": date(1990, 12, 10),
        "sex": "Female",
        "phone": "+12127365000",
        "phone_type": "Cell",
        "email": "ada@example.com",
        "address1": "350 Fifth Avenue",
        "address2": "Apt 4",
        "city": "New York",
        "state": "NY",
        "zip_code": "10118",
        "medical_record_number": "MRN-1",
        "height": None,
        "height_unit": None,
        "weight": None,
        "weight_unit": None,
        "vitals_recorded_at": None,
        "insurance_payer_name": None,
        "insurance_payer_id": None,
        "insurance_member_id": None,
        "insurance_group_id": None,
    }
    return Client(**{**values, **overrides})


def body(**fields: Any) -> PatientRegistrationIn:
    return PatientRegistrationIn.model_validate(fields)


def refused(client_row: Client, request: PatientRegistrationIn, today: date = TODAY) -> Any:
    with pytest.raises(Unprocessable) as caught:
        patient_registration(client_row, request, today, MAX_AGE)
    exc = caught.value
    assert exc.status_code == 422
    [error] = exc.extra["errors"]
    return error


def test_client_record_alone_registers_an_adult() -> None:
    patient = patient_registration(client(), body(), TODAY, MAX_AGE)
    assert patient.first_name == "Ada"
    assert patient.middle_name == "Augusta"
    assert patient.date_of_birth == date(1990, 12, 10)
    assert patient.age_on_registration == 35
    assert patient.registration_date == TODAY
    assert patient.vitals_required is False
    assert patient.address.street_address == "350 Fifth Avenue"
    assert patient.address.suburb == "Apt 4"
    assert patient.height is None and patient.weight is None
    assert patient.insurance is None
    assert patient.medical_record_number == "MRN-1"


def test_request_fields_override_the_client_record() -> None:
    patient = patient_registration(
        client(insurance_payer_name="Old Payer", insurance_member_id="OLD1"),
        body(
            first_name="Augusta",
            last_name="King",
            medical_record_number="EHR-77",
            date_of_birth="12/11/1990",
            sex="Unknown",
            phone="+1 646 736 0134",
            phone_type="Home",
            email="countess@example.com",
            address={
                "street_address": "1 Ockham Park",
                "city": "Ripley",
                "state": "ca",
                "zip_code": "92272",
            },
            insurance={"payer_name": "Acme", "member_id": "M1", "group_id": "G1"},
        ),
        TODAY,
        MAX_AGE,
    )
    assert (patient.first_name, patient.last_name) == ("Augusta", "King")
    assert patient.middle_name == "Augusta"  # kept from the client record
    assert patient.medical_record_number == "EHR-77"
    assert patient.date_of_birth == date(1990, 12, 11)
    assert patient.sex == "Unknown"
    assert (patient.phone, patient.phone_type) == ("+16467360134", "Home")
    assert patient.email == "countess@example.com"
    # The address is replaced whole: no second line from the client record.
    assert patient.address.model_dump() == {
        "street_address": "1 Ockham Park",
        "suburb": None,
        "city": "Ripley",
        "state": "CA",
        "zip_code": "92272",
    }
    assert patient.insurance is not None
    assert (patient.insurance.payer_name, patient.insurance.member_id) == ("Acme", "M1")
    assert patient.insurance.payer_id is None


def test_client_record_insurance_and_vitals_carry_over() -> None:
    patient = patient_registration(
        client(
            insurance_payer_name="Acme",
            insurance_payer_id="60054",
            insurance_member_id="W1",
            insurance_group_id=None,
            height=64.5,
            height_unit="in",
            weight=120,
            weight_unit="lb",
        ),
        body(),
        TODAY,
        MAX_AGE,
    )
    assert patient.insurance is not None and patient.insurance.payer_id == "60054"
    assert patient.height is not None and patient.height.model_dump() == {
        "value": 64.5,
        "unit": "in",
    }
    assert patient.weight is not None and patient.weight.model_dump() == {
        "value": 120,
        "unit": "lb",
    }


def _born_years_before(today: date, years: int, days: int = 0) -> date:
    return date(today.year - years, today.month, today.day) + timedelta(days=days)


@pytest.mark.parametrize(
    ("born", "age"),
    [
        (_born_years_before(TODAY, 17), 17),
        (_born_years_before(TODAY, 18), 18),  # the 18th birthday
        (_born_years_before(TODAY, 18, days=-1), 18),
        (_born_years_before(TODAY, 19, days=1), 18),  # the day before the 19th birthday
        (TODAY, 0),
    ],
)
def test_patients_18_and_under_need_height_and_weight(born: date, age: int) -> None:
    minor = client(date_of_birth=born)
    error = refused(minor, body())
    assert error["field"] == "height"
    assert "aged 18 and under" in error["reason"]
    error = refused(minor, body(height={"value": 160, "unit": "cm"}))
    assert error["field"] == "weight"
    error = refused(minor, body(weight={"value": 50, "unit": "kg"}))
    assert error["field"] == "height"

    patient = patient_registration(
        minor,
        body(height={"value": 160, "unit": "cm"}, weight={"value": 50, "unit": "kg"}),
        TODAY,
        MAX_AGE,
    )
    assert patient.age_on_registration == age
    assert patient.vitals_required is True
    assert patient.height is not None and patient.weight is not None
    assert (patient.height.value, patient.height.unit) == (160, "cm")
    assert (patient.weight.value, patient.weight.unit) == (50, "kg")


@pytest.mark.parametrize(
    "born",
    [_born_years_before(TODAY, 19), _born_years_before(TODAY, 19, days=-1), date(1950, 1, 1)],
)
def test_patients_19_and_over_need_no_vitals(born: date) -> None:
    patient = patient_registration(client(date_of_birth=born), body(), TODAY, MAX_AGE)
    assert patient.age_on_registration >= 19
    assert patient.vitals_required is False


def test_born_on_29_february_is_18_until_1_march_of_a_common_year() -> None:
    leapling = client(date_of_birth=date(2008, 2, 29))
    # 2027 is a common year: 19 only on 1 March.
    error = refused(leapling, body(), today=date(2027, 2, 28))
    assert error["field"] == "height"
    patient = patient_registration(leapling, body(), date(2027, 3, 1), MAX_AGE)
    assert patient.age_on_registration == 19


def test_vitals_from_the_client_record_satisfy_the_rule() -> None:
    minor = client(
        date_of_birth=date(2015, 5, 5), height=120, height_unit="cm", weight=25, weight_unit="kg"
    )
    patient = patient_registration(minor, body(weight={"value": 56, "unit": "lb"}), TODAY, 18)
    assert patient.height is not None and patient.height.unit == "cm"
    assert patient.weight is not None and (patient.weight.value, patient.weight.unit) == (
        56,
        "lb",
    )


def test_the_cut_off_is_a_parameter() -> None:
    eighteen = client(date_of_birth=_born_years_before(TODAY, 18))
    patient = patient_registration(eighteen, body(), TODAY, pediatric_max_age=17)
    assert patient.vitals_required is False
    with pytest.raises(Unprocessable):
        patient_registration(eighteen, body(), TODAY, pediatric_max_age=18)


def test_age_is_on_the_registration_date_not_the_clock() -> None:
    born = date(2000, 6, 15)
    with pytest.raises(Unprocessable):
        patient_registration(client(date_of_birth=born), body(), date(2019, 6, 14), MAX_AGE)
    patient = patient_registration(client(date_of_birth=born), body(), date(2019, 6, 15), 18)
    assert patient.age_on_registration == 19


def test_date_of_birth_after_the_registration_date_is_refused() -> None:
    error = refused(client(), body(date_of_birth="2020-06-01"), today=date(2020, 1, 1))
    assert error == {"field": "date_of_birth", "reason": "date of birth must not be in the future"}
    error = refused(client(date_of_birth=date(2020, 6, 1)), body(), today=date(2020, 1, 1))
    assert error["field"] == "date_of_birth"
    assert "client record" in error["reason"]


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"first_name": "A" * 36}, "first_name", "at most 35 characters"),
        ({"last_name": "King\x00"}, "last_name", "control"),
        ({"sex": "F"}, "sex", "'Male', 'Female' or 'Unknown'"),
        ({"sex": "unknown"}, "sex", "'Male', 'Female' or 'Unknown'"),
        ({"phone": "+44 20 7946 0958"}, "phone", "US phone number"),
        ({"phone": "+1 212 736 " + "\u0665\u0660\u0660\u0660"}, "phone", "ASCII 0-9"),
        ({"phone_type": "Undefined"}, "phone_type", "'Cell'"),
        ({"date_of_birth": "2999-01-01"}, "date_of_birth", "in the future"),
        ({"height": {"value": 0, "unit": "cm"}}, "height", "greater than zero"),
        ({"height": {"value": -5, "unit": "in"}}, "height", "greater than zero"),
        ({"weight": {"value": 900, "unit": "kg"}}, "weight", "between 0.3 and 350"),
        ({"weight": {"value": 70, "unit": "stone"}}, "weight.unit", "'kg' or 'lb'"),
        (
            {"address": {"street_address": "1 Main", "city": "X", "state": "ON", "zip_code": "1"}},
            "address.state",
            "not a US state",
        ),
        ({"medical_record_number": "M" * 36}, "medical_record_number", "35 characters"),
        ({"npi": "1234567893"}, "npi", "Extra inputs"),
    ],
)
def test_bad_request_fields_are_refused_when_parsed(
    fields: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        body(**fields)
    errors = caught.value.errors()
    assert any(".".join(map(str, e["loc"])) == field and reason in e["msg"] for e in errors), errors


def test_every_request_field_is_optional() -> None:
    assert body().model_dump(exclude_none=True) == {}


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"first_name": None}, "first_name"),
        ({"last_name": None}, "last_name"),
        ({"date_of_birth": None}, "date_of_birth"),
        ({"sex": None}, "sex"),
        ({"phone": None}, "phone"),
        ({"phone_type": None}, "phone_type"),
        ({"address1": None}, "address.street_address"),
    ],
)
def test_missing_required_fields_are_named(row: dict[str, Any], field: str) -> None:
    error = refused(client(**row), body())
    assert error["field"] == field
    assert "client record" in error["reason"]


def test_a_required_field_missing_from_the_record_can_come_from_the_request() -> None:
    patient = patient_registration(
        client(first_name=None, phone=None),
        body(first_name="Ada", phone="+1 646 736 0134"),
        TODAY,
        18,
    )
    assert (patient.first_name, patient.phone) == ("Ada", "+16467360134")


@pytest.mark.parametrize(
    ("row", "field", "reason"),
    [
        ({"phone": "+15557360134"}, "phone", "555"),
        ({"first_name": "A" * 40}, "first_name", "at most 35 characters"),
        ({"zip_code": "1234"}, "address.zip_code", "5-digit ZIP"),
        ({"sex": "F"}, "sex", "'Male', 'Female' or 'Unknown'"),
        ({"height": 3, "height_unit": "cm"}, "height", "between 20 and 250"),
        ({"weight": 0, "weight_unit": "kg"}, "weight", "greater than zero"),
    ],
)
def test_bad_values_in_the_client_record_are_refused_and_said_to_be_its(
    row: dict[str, Any], field: str, reason: str
) -> None:
    error = refused(client(**row), body())
    assert error["field"] == field
    assert reason in error["reason"]
    assert "client record" in error["reason"]


def test_a_request_value_replaces_a_bad_client_record_value() -> None:
    patient = patient_registration(
        client(phone="+15557360134"), body(phone="+1 646 736 0134"), TODAY, MAX_AGE
    )
    assert patient.phone == "+16467360134"


def test_client_upsert_and_registration_share_the_rules() -> None:
    """A client accepted by PUT .../clients registers without a request body."""
    upsert = ClientUpsert.model_validate(
        {
            "first_name": "Grace",
            "last_name": "Hopper",
            "date_of_birth": "12/09/1986",
            "sex": "Female",
            "phone": "+1 212 736 5000",
            "phone_type": "Work",
            "address": {
                "street_address": "1 Main St",
                "city": "Arlington",
                "state": "VA",
                "zip_code": "22201",
            },
        }
    )
    row = client(
        first_name=upsert.first_name,
        last_name=upsert.last_name,
        middle_name=None,
        date_of_birth=upsert.date_of_birth,
        sex=upsert.sex,
        phone=upsert.phone,
        phone_type=upsert.phone_type,
        email=None,
        address1=upsert.address.street_address,
        address2=None,
        city=upsert.address.city,
        state=upsert.address.state,
        zip_code=upsert.address.zip_code,
        medical_record_number=None,
    )
    patient = patient_registration(row, body(), TODAY, MAX_AGE)
    assert patient.age_on_registration == 39
