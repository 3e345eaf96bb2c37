"""Synthetic people, messages and audio for `flask seed-demo-data` (`cs_register.demo_data`).

Everything here is made up from a seeded `random.Random`, so the same seed gives the same
people. Nothing here touches the database: the seeding feeds these values through the real
services, which validate, encrypt and audit them as they would any customer's.
"""

from __future__ import annotations

import io
import math
import random
import wave
from dataclasses import dataclass
from datetime import date

GIVEN_NAMES = (
    "Aino", "Eino", "Helmi", "Väinö", "Ilona", "Onni", "Kerttu", "Lauri", "Siiri", "Toivo",
    "Aada", "Eetu", "Linnea", "Juho", "Venla", "Matias", "Pihla", "Oskari", "Iida", "Veikko",
)  # fmt: skip
FAMILY_NAMES = (
    "Virtanen", "Korhonen", "Mäkinen", "Nieminen", "Hämäläinen", "Laine", "Heikkinen",
    "Koskinen", "Järvinen", "Lehtonen", "Saarinen", "Salminen", "Heinonen", "Tuominen",
)  # fmt: skip
STREETS = (
    "Keskuskatu", "Rantatie", "Koulukatu", "Myllytie", "Puistokatu", "Kirkkotie", "Satamakatu",
)  # fmt: skip
# (postal code, city): real places, so the addresses read naturally; the streets are common.
PLACES = (
    ("00100", "Helsinki"), ("33100", "Tampere"), ("20100", "Turku"), ("90100", "Oulu"),
    ("40100", "Jyväskylä"), ("70100", "Kuopio"), ("15100", "Lahti"), ("80100", "Joensuu"),
)  # fmt: skip
# Reserved for documentation and examples (RFC 2606): mail to them never reaches anyone.
EMAIL_DOMAINS = ("example.com", "example.net", "example.org")
CHECK_CHARACTERS = "0123456789ABCDEFHJKLMNPRSTUVWXY"
# Why the customers get in touch; (subject, what they write).
TOPICS = (
    ("Invoice question", "The latest invoice looks higher than usual; could you check it?"),
    ("Change of address", "I am moving next month and need to update my address."),
    ("Delivery delayed", "My order has not arrived yet although it was due last week."),
    ("Contract renewal", "My contract ends soon; what are the options for renewing it?"),
    ("Complaint about service", "The technician did not come at the agreed time."),
    ("Password reset", "I cannot log in to the customer portal any more."),
)
SAMPLE_RATE = 8000  # telephone quality, like a PBX's recordings


@dataclass(frozen=True)
class Person:
    """A made-up customer, in the shape of the customer form."""

    given_names: str
    family_name: str
    street_address: str
    postal_code: str
    city: str
    phone: str
    email: str
    identity_code: str

    def form(self) -> dict[str, str | None]:
        return {
            "given_names": self.given_names,
            "family_name": self.family_name,
            "street_address": self.street_address,
            "postal_code": self.postal_code,
            "city": self.city,
            "country": "FI",
            "phone": self.phone,
            "email": self.email,
            "identity_code": self.identity_code,
        }

    @property
    def name(self) -> str:
        return f"{self.given_names} {self.family_name}"


def identity_code(rng: random.Random) -> str:
    """A henkilötunnus with a correct check character for someone born in the 1800s.

    The validator (rightly) refuses the 900-999 range reserved for artificial codes, so a
    code in today's range could be a living person's. The "+" century sign (born 1800-1899)
    is valid but can belong to nobody alive.
    """
    birth = date(rng.randrange(1850, 1900), 1, 1).toordinal() + rng.randrange(365)
    born = date.fromordinal(birth)
    digits = f"{born:%d%m}{born.year % 100:02d}"
    individual = f"{rng.randrange(2, 900):03d}"
    check = CHECK_CHARACTERS[int(digits + individual) % 31]
    return f"{digits}+{individual}{check}"


def mobile_number(rng: random.Random) -> str:
    """A Finnish mobile number (+358 4x...) in E.164 form."""
    return f"+3584{rng.choice('0145')}{rng.randrange(10**6, 10**7)}"


def people(rng: random.Random, count: int) -> list[Person]:
    """`count` customers with distinct identity codes, phones and emails."""
    made: list[Person] = []
    codes: set[str] = set()
    phones: set[str] = set()
    while len(made) < count:
        given, family = rng.choice(GIVEN_NAMES), rng.choice(FAMILY_NAMES)
        code, phone = identity_code(rng), mobile_number(rng)
        if code in codes or phone in phones:
            continue
        codes.add(code)
        phones.add(phone)
        postal_code, city = rng.choice(PLACES)
        local = f"{given}.{family}.{len(made) + 1}".lower()
        ascii_local = local.translate(str.maketrans("äöå", "aoa"))
        made.append(
            Person(
                given_names=given,
                family_name=family,
                street_address=f"{rng.choice(STREETS)} {rng.randrange(1, 60)}",
                postal_code=postal_code,
                city=city,
                phone=phone,
                email=f"{ascii_local}@{rng.choice(EMAIL_DOMAINS)}",
                identity_code=code,
            )
        )
    return made


def tone_wav(rng: random.Random, seconds: float = 3.0) -> bytes:
    """A few seconds of telephone-quality tones (16-bit PCM WAV, mono, 8 kHz).

    Written with the standard library's `wave`: no ffmpeg or pydub is needed to make it, and
    the recordings service then inspects and converts it with ffmpeg like any PBX upload.
    """
    notes = [rng.choice((330.0, 392.0, 440.0, 494.0, 523.0, 587.0)) for _ in range(6)]
    per_note = int(SAMPLE_RATE * seconds / len(notes))
    frames = bytearray()
    for frequency in notes:
        for n in range(per_note):
            # A short fade at each end of a note, so the tones do not click.
            envelope = min(1.0, n / 200, (per_note - n) / 200)
            sample = int(12000 * envelope * math.sin(2 * math.pi * frequency * n / SAMPLE_RATE))
            frames += sample.to_bytes(2, "little", signed=True)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(bytes(frames))
    return buffer.getvalue()
