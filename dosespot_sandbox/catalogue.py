"""The sandbox's fixed reference data: pharmacy directory, drugs, supplies, allergens and
dispense units.

Identifiers are fixed and below the generated range (10001 and up), so a catalogue id is
never also a patient or prescription id. Names, addresses and codes look like the real ones
but are illustrative: NDCs, RxCUIs and NCPDP ids are not to be trusted outside the sandbox.
"""

from __future__ import annotations

from typing import Any

from dosespot_sandbox.enums import (
    PHARMACY_SPECIALTY,
    SERVICE_CANCEL,
    SERVICE_CHANGE,
    SERVICE_EPCS,
    SERVICE_NEW_RX,
    SERVICE_REFILL,
    SERVICE_RX_FILL,
)

# ---------------------------------------------------------------------------------------
# Pharmacies

FULL = SERVICE_NEW_RX | SERVICE_REFILL | SERVICE_CHANGE | SERVICE_RX_FILL | SERVICE_CANCEL
FULL_EPCS = FULL | SERVICE_EPCS
BASIC = SERVICE_NEW_RX | SERVICE_REFILL

# Not every pharmacy confirms receipt: prescriptions sent to these stay eRxSent.
NEVER_VERIFY_PHARMACY_IDS = frozenset({7904, 7917})
REJECTS_PHARMACY_ID = 7998
TRANSMISSION_FAILURE_PHARMACY_ID = 7999
REJECTION_DETAIL = (
    "Rejected by pharmacy: 008 - Patient not found in the pharmacy system; prescription not filled."
)
TRANSMISSION_FAILURE_DETAIL = (
    "Transmission failed: 602 - The pharmacy's system did not acknowledge the message "
    "(Surescripts timeout)."
)

# id, store name, address1, city, state, zip, phone, fax, specialties, service level, lat, lon
_PHARMACIES: list[tuple[Any, ...]] = [
    (7901, "CVS Pharmacy #1024", "587 Boylston St", "Boston", "MA", "021163614", "6175550101", "6175550102", ["Retail", "EPCS"], FULL_EPCS, 42.3496, -71.0779),  # noqa: E501
    (7902, "Walgreens #03219", "24 School St", "Boston", "MA", "02108", "6175550111", "6175550112", ["Retail", "TwentyFourHourPharmacy", "EPCS"], FULL_EPCS, 42.3577, -71.0590),  # noqa: E501
    (7903, "Harbor Compounding Pharmacy", "1 Kendall Sq", "Cambridge", "MA", "02139", "6175550121", "6175550122", ["SpecialtyPharmacy"], FULL, 42.3663, -71.0906),  # noqa: E501
    (7904, "Brookline Village Apothecary", "12 Station St", "Brookline", "MA", "02445", "6175550131", "6175550132", ["Retail"], BASIC, 42.3327, -71.1166),  # noqa: E501
    (7905, "Duane Reade #14203", "350 5th Ave", "New York", "NY", "10118", "2125550141", "2125550142", ["Retail", "TwentyFourHourPharmacy", "EPCS"], FULL_EPCS, 40.7484, -73.9857),  # noqa: E501
    (7906, "CVS Pharmacy #2210", "1 Herald Sq", "New York", "NY", "100011802", "2125550151", "2125550152", ["Retail", "EPCS"], FULL_EPCS, 40.7497, -73.9877),  # noqa: E501
    (7907, "Omnicare of Albany", "40 Corporate Woods Blvd", "Albany", "NY", "12211", "5185550161", "5185550162", ["LongTermCarePharmacy", "EPCS"], FULL_EPCS, 42.7052, -73.7887),  # noqa: E501
    (7908, "Rite Aid #10567", "2000 Mission St", "San Francisco", "CA", "94110", "4155550171", "4155550172", ["Retail", "EPCS"], FULL_EPCS, 37.7634, -122.4193),  # noqa: E501
    (7909, "Walgreens #07321", "8770 W Sunset Blvd", "West Hollywood", "CA", "90069", "3105550181", "3105550182", ["Retail", "TwentyFourHourPharmacy", "EPCS"], FULL_EPCS, 34.0906, -118.3845),  # noqa: E501
    (7910, "Kaiser Permanente Mail Order Pharmacy", "9521 Dalen St", "Downey", "CA", "90242", "5625550191", "5625550192", ["MailOrder", "EPCS"], FULL_EPCS, 33.9232, -118.1396),  # noqa: E501
    (7911, "Mission Specialty Pharmacy", "450 Sutter St", "San Francisco", "CA", "94108", "4155550201", "4155550202", ["SpecialtyPharmacy", "EPCS"], FULL_EPCS, 37.7893, -122.4079),  # noqa: E501
    (7912, "H-E-B Pharmacy #612", "2400 S Congress Ave", "Austin", "TX", "78704", "5125550211", "5125550212", ["Retail", "EPCS"], FULL_EPCS, 30.2390, -97.7529),  # noqa: E501
    (7913, "Walmart Pharmacy 10-1287", "710 E Ben White Blvd", "Austin", "TX", "78704", "5125550221", "5125550222", ["Retail", "EPCS"], FULL_EPCS, 30.2207, -97.7606),  # noqa: E501
    (7914, "Texas Medical Center Pharmacy", "6550 Fannin St", "Houston", "TX", "77030", "7135550231", "7135550232", ["Retail", "SpecialtyPharmacy", "TwentyFourHourPharmacy", "EPCS"], FULL_EPCS, 29.7099, -95.3990),  # noqa: E501
    (7915, "Jewel-Osco Pharmacy #3443", "550 N State St", "Chicago", "IL", "60654", "3125550241", "3125550242", ["Retail", "EPCS"], FULL_EPCS, 41.8920, -87.6280),  # noqa: E501
    (7916, "Walgreens #00313", "757 N Michigan Ave", "Chicago", "IL", "60611", "3125550251", "3125550252", ["Retail", "TwentyFourHourPharmacy", "EPCS"], FULL_EPCS, 41.8967, -87.6241),  # noqa: E501
    (7917, "Ralph's Pharmacy", "1200 Lake Shore Dr", "Chicago", "IL", "60610", "3125550261", "3125550262", ["Retail"], BASIC, 41.9035, -87.6267),  # noqa: E501
    (7918, "Publix Pharmacy #1049", "1045 5th St", "Miami Beach", "FL", "33139", "3055550271", "3055550272", ["Retail", "EPCS"], FULL_EPCS, 25.7752, -80.1357),  # noqa: E501
    (7919, "CVS Pharmacy #5678", "100 N Tampa St", "Tampa", "FL", "33602", "8135550281", "8135550282", ["Retail", "EPCS"], FULL_EPCS, 27.9460, -82.4590),  # noqa: E501
    (7920, "Bartell Drugs #44", "1628 5th Ave", "Seattle", "WA", "98101", "2065550291", "2065550292", ["Retail", "EPCS"], FULL_EPCS, 47.6120, -122.3370),  # noqa: E501
    (7921, "Rainier Long Term Care Pharmacy", "3400 S Jackson St", "Seattle", "WA", "98144", "2065550301", "2065550302", ["LongTermCarePharmacy"], FULL, 47.5990, -122.2890),  # noqa: E501
    (7922, "Smith's Pharmacy #4125", "5850 Eubank Blvd NE", "Albuquerque", "NM", "87111", "5055550311", "5055550312", ["Retail", "EPCS"], FULL_EPCS, 35.1310, -106.5320),  # noqa: E501
    (7923, "Walgreens #05836", "4400 Wyoming Blvd NE", "Albuquerque", "NM", "87111", "5055550321", "5055550322", ["Retail", "TwentyFourHourPharmacy", "EPCS"], FULL_EPCS, 35.1250, -106.5510),  # noqa: E501
    (7924, "King Soopers Pharmacy #27", "1155 E 9th Ave", "Denver", "CO", "80218", "3035550331", "3035550332", ["Retail", "EPCS"], FULL_EPCS, 39.7310, -104.9740),  # noqa: E501
    (7925, "Kroger Pharmacy #655", "725 Ponce De Leon Ave NE", "Atlanta", "GA", "30306", "4045550341", "4045550342", ["Retail", "EPCS"], FULL_EPCS, 33.7740, -84.3650),  # noqa: E501
    (7926, "Express Scripts Home Delivery", "4600 N Hanley Rd", "St. Louis", "MO", "63134", "8005550351", "8005550352", ["MailOrder", "SpecialtyPharmacy", "EPCS"], FULL_EPCS, 38.7340, -90.3190),  # noqa: E501
    (7927, "Amazon Pharmacy", "2200 Westlake Ave", "Seattle", "WA", "98121", "8555550361", "8555550362", ["MailOrder", "EPCS"], FULL_EPCS, 47.6180, -122.3380),  # noqa: E501
    (7928, "Corner Drug (fax only)", "18 Main St", "Concord", "MA", "01742", "9785550371", "9785550372", ["FaxPharmacy"], 0, 42.4604, -71.3489),  # noqa: E501
    (7929, "Green Mountain Pharmacy", "91 Church St", "Burlington", "VT", "05401", "8025550381", "8025550382", ["Retail"], FULL, 44.4780, -73.2120),  # noqa: E501
    (7930, "Desert Sun Pharmacy", "2 N Central Ave", "Phoenix", "AZ", "85004", "6025550391", "6025550392", ["Retail", "EPCS"], FULL_EPCS, 33.4480, -112.0740),  # noqa: E501
    (REJECTS_PHARMACY_ID, "Sandbox Pharmacy Rejects", "1 Rejection Way", "Boston", "MA", "02110", "6175550981", "6175550982", ["Retail", "EPCS"], FULL_EPCS, 42.3570, -71.0510),  # noqa: E501
    (TRANSMISSION_FAILURE_PHARMACY_ID, "Sandbox Transmission Failure", "2 Timeout Ave", "Boston", "MA", "02110", "6175550991", "6175550992", ["Retail", "EPCS"], FULL_EPCS, 42.3575, -71.0515),  # noqa: E501
]  # fmt: skip


def _pharmacy(row: tuple[Any, ...]) -> dict[str, Any]:
    pid, name, address, city, state, zip_code, phone, fax, specialties, level, lat, lon = row
    return {
        "PharmacyId": pid,
        "StoreName": name,
        "Address1": address,
        "City": city,
        "State": state,
        "ZipCode": zip_code,
        "PrimaryPhone": phone,
        "PrimaryPhoneType": "Work",
        "PrimaryFax": fax,
        "PharmacySpecialties": list(specialties),
        "ServiceLevel": level,
        "Latitude": lat,
        "Longitude": lon,
        "NCPDPID": f"22{pid:05d}",
    }


PHARMACIES: dict[int, dict[str, Any]] = {row[0]: _pharmacy(row) for row in _PHARMACIES}


def specialty_bits(pharmacy: dict[str, Any]) -> int:
    bits = 0
    for name in pharmacy["PharmacySpecialties"]:
        bits |= PHARMACY_SPECIALTY.values[name]
    return bits


# ---------------------------------------------------------------------------------------
# Dispense units

_DISPENSE_UNITS = [
    (1, "Capsule", "cap", "capsule", "capsules"),
    (2, "Tablet", "tab", "tablet", "tablets"),
    (3, "Milliliter", "mL", "milliliter", "milliliters"),
    (4, "Inhaler", "inh", "inhaler", "inhalers"),
    (5, "Film", "film", "film", "films"),
    (6, "Each", "ea", "each", "each"),
    (7, "Gram", "g", "gram", "grams"),
    (8, "Vial", "vial", "vial", "vials"),
    (9, "Patch", "patch", "patch", "patches"),
]
DISPENSE_UNITS: dict[int, dict[str, Any]] = {
    uid: {
        "StandardDispenseUnitTypeID": uid,
        "Name": name,
        "Abbreviation": abbreviation,
        "Singular": singular,
        "Plural": plural,
        "SingularOrPlural": f"{singular}(s)",
        "PotencyUnitCode": f"C{48470 + uid}",
        "IsActive": True,
    }
    for uid, name, abbreviation, singular, plural in _DISPENSE_UNITS
}

# ---------------------------------------------------------------------------------------
# Medications (dispensable drugs). Schedule 0 is not controlled; 2..5 are DEA schedules II-V.

# id, routed id, rxcui, drug name, route, dose form, strength, unit, brand, otc, class, schedule
_MEDICATIONS: list[tuple[Any, ...]] = [
    (4001, 5001, 308182, "amoxicillin", "oral", "capsule", "250 mg", 1, False, False, "Penicillin antibiotic", 0),  # noqa: E501
    (4002, 5001, 308191, "amoxicillin", "oral", "capsule", "500 mg", 1, False, False, "Penicillin antibiotic", 0),  # noqa: E501
    (4003, 5002, 308192, "amoxicillin", "oral", "tablet", "875 mg", 2, False, False, "Penicillin antibiotic", 0),  # noqa: E501
    (4004, 5003, 314076, "lisinopril", "oral", "tablet", "10 mg", 2, False, False, "ACE inhibitor", 0),  # noqa: E501
    (4005, 5003, 314077, "lisinopril", "oral", "tablet", "20 mg", 2, False, False, "ACE inhibitor", 0),  # noqa: E501
    (4006, 5004, 617310, "atorvastatin", "oral", "tablet", "20 mg", 2, False, False, "Statin", 0),
    (4007, 5005, 861007, "metformin", "oral", "tablet", "500 mg", 2, False, False, "Biguanide", 0),
    (4008, 5006, 312938, "sertraline", "oral", "tablet", "25 mg", 2, False, False, "SSRI antidepressant", 0),  # noqa: E501
    (4009, 5006, 312940, "sertraline", "oral", "tablet", "50 mg", 2, False, False, "SSRI antidepressant", 0),  # noqa: E501
    (4010, 5006, 312941, "sertraline", "oral", "tablet", "100 mg", 2, False, False, "SSRI antidepressant", 0),  # noqa: E501
    (4011, 5007, 745679, "albuterol sulfate HFA", "inhalation", "aerosol", "90 mcg/actuation", 4, False, False, "Beta-2 agonist", 0),  # noqa: E501
    (4012, 5008, 966247, "levothyroxine", "oral", "tablet", "50 mcg", 2, False, False, "Thyroid hormone", 0),  # noqa: E501
    (4013, 5009, 402014, "omeprazole", "oral", "delayed release capsule", "20 mg", 1, False, False, "Proton pump inhibitor", 0),  # noqa: E501
    (4014, 5010, 197361, "amlodipine", "oral", "tablet", "5 mg", 2, False, False, "Calcium channel blocker", 0),  # noqa: E501
    (4015, 5011, 197807, "ibuprofen", "oral", "tablet", "800 mg", 2, False, False, "NSAID", 0),
    (4016, 5012, 312615, "prednisone", "oral", "tablet", "10 mg", 2, False, False, "Corticosteroid", 0),  # noqa: E501
    (4017, 5013, 308460, "azithromycin", "oral", "tablet", "250 mg", 2, False, False, "Macrolide antibiotic", 0),  # noqa: E501
    (4018, 5014, 310431, "gabapentin", "oral", "capsule", "300 mg", 1, False, False, "Anticonvulsant", 0),  # noqa: E501
    (4019, 5015, 1014678, "cetirizine", "oral", "tablet", "10 mg", 2, False, True, "Antihistamine", 0),  # noqa: E501
    (4020, 5016, 1049621, "oxycodone hydrochloride", "oral", "tablet", "5 mg", 2, False, False, "Opioid analgesic", 2),  # noqa: E501
    (4021, 5017, 857005, "hydrocodone bitartrate and acetaminophen", "oral", "tablet", "5 mg-325 mg", 2, False, False, "Opioid analgesic combination", 2),  # noqa: E501
    (4022, 5018, 541878, "Adderall (amphetamine aspartate, amphetamine sulfate, dextroamphetamine saccharate, dextroamphetamine sulfate)", "oral", "tablet", "10 mg", 2, True, False, "CNS stimulant", 2),  # noqa: E501
    (4023, 5019, 1091170, "methylphenidate hydrochloride", "oral", "tablet", "10 mg", 2, False, False, "CNS stimulant", 2),  # noqa: E501
    (4024, 5020, 1010604, "buprenorphine and naloxone", "sublingual", "film", "8 mg-2 mg", 5, False, False, "Opioid partial agonist", 3),  # noqa: E501
    (4025, 5021, 835840, "testosterone cypionate", "intramuscular", "solution", "200 mg/mL", 8, False, False, "Androgen", 3),  # noqa: E501
    (4026, 5022, 308048, "alprazolam", "oral", "tablet", "0.5 mg", 2, False, False, "Benzodiazepine", 4),  # noqa: E501
    (4027, 5023, 197901, "lorazepam", "oral", "tablet", "1 mg", 2, False, False, "Benzodiazepine", 4),  # noqa: E501
    (4028, 5024, 854873, "zolpidem tartrate", "oral", "tablet", "10 mg", 2, False, False, "Sedative-hypnotic", 4),  # noqa: E501
    (4029, 5025, 835603, "tramadol hydrochloride", "oral", "tablet", "50 mg", 2, False, False, "Opioid analgesic", 4),  # noqa: E501
    (4030, 5026, 483440, "pregabalin", "oral", "capsule", "75 mg", 1, False, False, "Anticonvulsant", 5),  # noqa: E501
    (4031, 5027, 995093, "codeine phosphate and guaifenesin", "oral", "liquid", "10 mg-100 mg/5 mL", 3, False, False, "Antitussive combination", 5),  # noqa: E501
    (4032, 5028, 1807632, "ranitidine", "oral", "tablet", "150 mg", 2, False, True, "H2 blocker", 0),  # noqa: E501
]  # fmt: skip

# Gabapentin is controlled in some states only: DoseSpot reports it per state.
_STATE_SCHEDULES = {
    4018: [
        {"StateName": "Kentucky", "Schedule": 5},
        {"StateName": "Michigan", "Schedule": 5},
        {"StateName": "Tennessee", "Schedule": 5},
    ]
}
OBSOLETE_MEDICATIONS = frozenset({4032})


def _medication(row: tuple[Any, ...]) -> dict[str, Any]:
    did, rid, rxcui, name, route, form, strength, unit, brand, otc, klass, schedule = row
    generic = name.split(" (", 1)[0] if not brand else name.split(" (", 1)[1].rstrip(")")
    display = f"{name.split(' (', 1)[0]} {strength} {form}"
    return {
        "DispensableDrugId": did,
        "RoutedDoseFormDrugId": rid,
        "NDC": f"{did * 7919 % 100000:05d}{did % 10000:04d}{did % 97:02d}",
        "RXCUI": rxcui,
        "DisplayName": display,
        "NameWithRouteDoseForm": f"{name.split(' (', 1)[0]} {route} {form}",
        "DrugName": name.split(" (", 1)[0],
        "Route": route,
        "DoseForm": form,
        "Strength": strength,
        "DispenseUnitId": unit,
        "Brand": brand,
        "GenericDrugName": generic,
        "OTC": otc,
        "IsObsolete": did in OBSOLETE_MEDICATIONS,
        "DrugClassification": klass,
        "Schedule": schedule,
        "StateSchedule": _STATE_SCHEDULES.get(did, []),
    }


MEDICATIONS: dict[int, dict[str, Any]] = {row[0]: _medication(row) for row in _MEDICATIONS}
MEDICATIONS_BY_ROUTED: dict[int, dict[str, Any]] = {}
for _medication_doc in MEDICATIONS.values():
    MEDICATIONS_BY_ROUTED.setdefault(_medication_doc["RoutedDoseFormDrugId"], _medication_doc)

# ---------------------------------------------------------------------------------------
# Supplies

_SUPPLIES = [
    (6001, "BD Alcohol Swabs", "08290326895", "382903268953", False),
    (6002, "BD Ultra-Fine Insulin Syringe 0.5 mL 31G x 6 mm", "08290328468", "382903284687", True),
    (6003, "FreeStyle Lite Blood Glucose Test Strips", "99073070814", "699073708144", True),
    (6004, "OneTouch Delica Plus Lancets 30G", "53885024410", "353885024410", False),
    (6005, "Pari Nebulizer Kit", "48046001233", "048046001233", True),
    (6006, "Omron Upper Arm Blood Pressure Monitor", "07387219001", "073796267117", False),
    (6007, "Accu-Chek Guide Test Strips", "65702071010", "365702071010", True),
]
SUPPLIES: dict[int, dict[str, Any]] = {
    sid: {
        "SupplyId": sid,
        "NDC": ndc,
        "UPC": upc,
        "Name": name,
        # The Swagger says "True if IsRx is true": kept as published.
        "OTC": is_rx,
        "IsObsolete": False,
    }
    for sid, name, ndc, upc, is_rx in _SUPPLIES
}

# ---------------------------------------------------------------------------------------
# Allergens

# id, name, brand name, type, category, rxcuis
_ALLERGENS: list[tuple[Any, ...]] = [
    (3001, "Penicillins", None, "AllergenClass", "CommonAllergens", ["7980"]),
    (3002, "Sulfonamide Antibiotics", None, "AllergenClass", "CommonAllergens", ["10180"]),
    (3003, "Cephalosporins", None, "AllergenClass", "CommonAllergens", ["2231"]),
    (3004, "NSAIDs", None, "AllergenClass", "CommonAllergens", []),
    (3005, "Opioid Analgesics", None, "AllergenClass", "CommonAllergens", []),
    (3006, "Amoxicillin", "Amoxil", "ScreenableIngredient", "CommonAllergens", ["723"]),
    (3007, "Aspirin", "Bayer Aspirin", "ScreenableIngredient", "CommonAllergens", ["1191"]),
    (3008, "Ibuprofen", "Advil", "ScreenableIngredient", "CommonAllergens", ["5640"]),
    (3009, "Codeine", "Tylenol with Codeine", "ScreenableIngredient", "CommonAllergens", ["2670"]),
    (3010, "Morphine", "MS Contin", "ScreenableIngredient", "UncommonAllergens", ["7052"]),
    (3011, "Lisinopril", "Zestril", "ScreenableIngredient", "UncommonAllergens", ["29046"]),
    (3012, "Latex", None, "FoodAndEnvironmentalAllergens", "CommonAllergens", []),
    (3013, "Peanut", None, "FoodAndEnvironmentalAllergens", "CommonAllergens", []),
    (3014, "Shellfish", None, "FoodAndEnvironmentalAllergens", "CommonAllergens", []),
    (3015, "Egg", None, "FoodAndEnvironmentalAllergens", "CommonAllergens", []),
    (3016, "Iodinated Contrast Media", None, "AllergenClass", "UncommonAllergens", []),
    (3017, "Augmentin", "Augmentin", "RoutedDoseFormDrugs", "OtherBrandDrugs", ["151392"]),
    (3018, "Penicillin G Benzathine", "Bicillin L-A", "ScreenableIngredient", "UncommonAllergens", ["7982"]),  # noqa: E501
]  # fmt: skip
ALLERGENS: dict[int, dict[str, Any]] = {}
for _aid, _name, _brand, _type, _category, _rxcuis in _ALLERGENS:
    _allergen: dict[str, Any] = {
        "Name": _name,
        "AllergenId": _aid,
        "AllergenType": _type,
        "IsActive": True,
        "AllergenCategory": _category,
        "RxCuis": list(_rxcuis),
    }
    if _brand:
        _allergen["BrandName"] = _brand
    ALLERGENS[_aid] = _allergen


def find_by_name(entries: list[dict[str, Any]], key: str, text: str) -> list[dict[str, Any]]:
    """Entries whose ``key`` contains every word of ``text`` (case-insensitive)."""
    words = text.lower().split()
    return [entry for entry in entries if all(w in str(entry.get(key, "")).lower() for w in words)]
