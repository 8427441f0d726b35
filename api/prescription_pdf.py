"""A printed prescription: one US-letter page the prescriber signs by hand.

It carries what a pharmacist needs to fill a non-controlled prescription: the prescriber
(name, address, phone, NPI), the patient (name, date of birth, address), the medication,
its directions, the quantity in figures and in words ("30 (thirty)", so it cannot be
altered by adding a digit), refills the same way, substitution, the date written and, when
later, the date it may be filled from. A DEA number belongs only on a controlled-substance
prescription, and those are never printed here (they go by EPCS), so none carries one.

The PDF is built in memory and handed back as bytes: it is protected health information,
never written to disk, stored or logged.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from fpdf import FPDF
from fpdf.enums import XPos, YPos

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**9, "billion"), (10**6, "million"), (1000, "thousand"))


def _under_thousand(n: int) -> str:
    hundreds, rest = divmod(n, 100)
    words = [f"{_ONES[hundreds]} hundred"] if hundreds else []
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        words.append(_TENS[tens] + (f"-{_ONES[ones]}" if ones else ""))
    elif rest or not hundreds:
        words.append(_ONES[rest])
    return " ".join(words)


def integer_in_words(n: int) -> str:
    """A whole number in English words: 30 -> "thirty", 1250 -> "one thousand two hundred
    fifty"."""
    if n < 0:
        return f"minus {integer_in_words(-n)}"
    if n < 1000:
        return _under_thousand(n)
    words = []
    for scale, name in _SCALES:
        count, n = divmod(n, scale)
        if count:
            words.append(f"{integer_in_words(count)} {name}")
    if n:
        words.append(_under_thousand(n))
    return " ".join(words)


def number_in_words(value: Decimal | int | str) -> str:
    """A quantity in words, decimals digit by digit: 30 -> "thirty", 2.5 -> "two point
    five", 0.25 -> "zero point two five"."""
    try:
        number = Decimal(str(value))
    except InvalidOperation as err:
        raise ValueError(f"not a number: {value!r}") from err
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    text = f"{number.normalize():f}"
    sign = ""
    if text.startswith("-"):
        sign, text = "minus ", text[1:]
    whole, _, fraction = text.partition(".")
    words = integer_in_words(int(whole))
    if fraction:
        words += " point " + " ".join(_ONES[int(d)] for d in fraction)
    return sign + words


def in_words_and_figures(value: Decimal | int | str) -> str:
    """ "30 (thirty)": the figure as written, then the words."""
    number = Decimal(str(value))
    return f"{number.normalize():f} ({number_in_words(number)})"


@dataclass(frozen=True)
class Prescriber:
    name: str
    npi: str
    address_lines: tuple[str, ...]
    phone: str | None = None


@dataclass(frozen=True)
class Patient:
    name: str
    date_of_birth: date
    address_lines: tuple[str, ...]


@dataclass(frozen=True)
class PrintedPrescription:
    prescriber: Prescriber
    patient: Patient
    medication: str
    directions: str
    quantity: Decimal
    refills: int
    written: date
    effective: date | None = None
    days_supply: int | None = None
    dispense_as_written: bool = False
    diagnosis_codes: tuple[str, ...] = ()
    reference: str | None = None


_PUNCTUATION = str.maketrans(
    {"\u2013": "-", "\u2014": "-", "\u2018": "'", "\u2019": "'", "\u201c": '"',
     "\u201d": '"', "\u2026": "...", "\u2022": "-"}
)  # fmt: skip


def _latin1(text: str) -> str:
    """The PDF's standard fonts cover Latin-1: accents kept, typographic punctuation and
    anything else as its nearest plain letters."""
    if all(ord(c) < 256 for c in text):
        return text
    out = []
    text = text.translate(_PUNCTUATION)
    for c in text:
        if ord(c) < 256:
            out.append(c)
            continue
        plain = unicodedata.normalize("NFKD", c).encode("latin-1", "ignore").decode("latin-1")
        out.append(plain or "?")
    return "".join(out)


def _us_date(value: date) -> str:
    return value.strftime("%m/%d/%Y")


class _Page(FPDF):
    def __init__(self) -> None:
        super().__init__(orientation="P", unit="mm", format="Letter")
        self.set_margins(20, 18, 20)
        self.set_auto_page_break(auto=True, margin=18)

    def line_of(self, text: str, *, size: float = 10, style: str = "", height: float = 5.2):
        self.set_font("Helvetica", style=style, size=size)
        self.multi_cell(
            0, height, _latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT, markdown=False
        )

    def labelled(self, label: str, value: str) -> None:
        self.set_font("Helvetica", style="B", size=10)
        self.cell(42, 6.2, _latin1(label))
        self.set_font("Helvetica", size=10.5)
        self.multi_cell(0, 6.2, _latin1(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def rule(self) -> None:
        self.ln(2)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.ln(3)


def render_prescription_pdf(rx: PrintedPrescription) -> bytes:
    """The prescription as a one-page PDF, in memory."""
    pdf = _Page()
    pdf.set_creator("eRx")
    pdf.set_title("Prescription")
    pdf.add_page()

    doc = rx.prescriber
    pdf.line_of(doc.name, size=15, style="B", height=7)
    for line in doc.address_lines:
        pdf.line_of(line)
    if doc.phone:
        pdf.line_of(f"Phone: {doc.phone}")
    pdf.line_of(f"NPI: {doc.npi}")
    pdf.rule()

    patient = rx.patient
    pdf.labelled("Patient", patient.name)
    pdf.labelled("Date of birth", _us_date(patient.date_of_birth))
    if patient.address_lines:
        pdf.labelled("Address", ", ".join(patient.address_lines))
    pdf.labelled("Date written", _us_date(rx.written))
    if rx.effective is not None and rx.effective > rx.written:
        pdf.labelled("Do not fill before", _us_date(rx.effective))
    pdf.rule()

    pdf.line_of("Rx", size=22, style="B", height=10)
    pdf.labelled("Medication", rx.medication)
    pdf.labelled("Directions (Sig)", rx.directions)
    pdf.labelled("Quantity", in_words_and_figures(rx.quantity))
    if rx.days_supply:
        pdf.labelled("Days supply", str(rx.days_supply))
    pdf.labelled("Refills", in_words_and_figures(rx.refills))
    pdf.labelled(
        "Substitution",
        "Dispense as written" if rx.dispense_as_written else "Substitution permitted",
    )
    if rx.diagnosis_codes:
        pdf.labelled("Diagnosis", ", ".join(rx.diagnosis_codes))
    pdf.rule()

    pdf.ln(14)
    y = pdf.get_y()
    pdf.line(pdf.l_margin, y, pdf.l_margin + 95, y)
    pdf.ln(1.5)
    pdf.line_of(f"Signature of prescriber: {doc.name}", size=9)
    pdf.ln(6)
    pdf.line_of(
        "Not valid without the prescriber's handwritten signature. Not for controlled substances.",
        size=8,
    )
    if rx.reference:
        pdf.line_of(f"Reference: {rx.reference}", size=8)
    return bytes(pdf.output())
