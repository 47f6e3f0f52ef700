"""The Port-Bouët wave as it reaches a reception centre in the field: the embassy's manifest,
sent two days before the first flight lands, and registrations typed on ODK Collect tablets
that sync when the connection allows (OpenRosa submissions) beside those typed in the API.

The manifest lists the wave's people as the sender knows them: names always, the date of birth
when the passport shows one (else an age), sex, the phone some gave, a passport number for
most, the vulnerabilities seen at departure. A few people on it never board.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from retour_demo.people import family_name, given_name, mali_mobile

MANIFEST_COLUMNS = (
    "given_name",
    "family_name",
    "date_of_birth",
    "age",
    "sex",
    "passport_number",
    "phone",
    "vulnerabilities",
)
ANNOUNCED_DAYS_BEFORE = 2
OPENROSA_CENTRE = "bamako"


@dataclass
class Manifest:
    wave_name: str
    reception_centre: str
    expected_date: date
    host_country: str
    rows: list[dict[str, str]] = field(default_factory=list)
    no_shows: int = 0

    @property
    def query(self) -> dict[str, str]:
        return {
            "wave_name": self.wave_name,
            "reception_centre": self.reception_centre,
            "expected_date": self.expected_date.isoformat(),
            "host_country": self.host_country,
        }

    def csv(self) -> str:
        """The manifest as the embassy's spreadsheet exports it (French locale: ';')."""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=MANIFEST_COLUMNS, delimiter=";")
        writer.writeheader()
        writer.writerows(self.rows)
        return out.getvalue()


def _row(rng: random.Random, registration: dict[str, Any]) -> dict[str, str]:
    personal = registration["personal"]
    born = personal["date_of_birth"]
    # Without a date of birth the sender gives an age, as the registrar estimates one.
    age = registration["age_estimate"]
    phone = personal["phone"] if rng.random() < 0.5 else None
    return {
        "given_name": personal["given_name"],
        "family_name": personal["family_name"],
        "date_of_birth": born or "",
        "age": "" if born else str(age),
        "sex": registration["sex"],
        "passport_number": f"CI{rng.randrange(10**7):07d}" if rng.random() < 0.8 else "",
        "phone": phone or "",
        "vulnerabilities": ";".join(registration["vulnerabilities"]),
    }


def _no_show(rng: random.Random, expected: date) -> dict[str, str]:
    sex = "female" if rng.random() < 0.3 else "male"
    born = expected - timedelta(days=rng.randint(19, 45) * 365 + rng.randrange(365))
    return {
        "given_name": given_name(rng, sex),
        "family_name": family_name(rng),
        "date_of_birth": born.isoformat(),
        "age": "",
        "sex": sex,
        "passport_number": f"CI{rng.randrange(10**7):07d}",
        "phone": mali_mobile(rng),
        "vulnerabilities": "",
    }


def plan_manifest(
    rng: random.Random,
    wave: list[dict[str, Any]],
    *,
    first_day: date,
    no_shows: int,
) -> Manifest:
    """The manifest of ``wave`` (registration bodies) plus ``no_shows`` who never board."""
    manifest = Manifest(
        wave_name=f"Évacuation Port-Bouët, {first_day.strftime('%d/%m/%Y')}",
        reception_centre="bamako",
        expected_date=first_day,
        host_country="CI",
        no_shows=no_shows,
    )
    manifest.rows = [_row(rng, body) for body in wave]
    manifest.rows += [_no_show(rng, first_day) for _ in range(no_shows)]
    rng.shuffle(manifest.rows)
    return manifest
