"""Fictitious people: names common in Mali, valid Malian mobile numbers."""

from __future__ import annotations

import random

import phonenumbers

GIVEN_MALE = (
    "Moussa",
    "Mamadou",
    "Oumar",
    "Ibrahim",
    "Seydou",
    "Bakary",
    "Adama",
    "Souleymane",
    "Boubacar",
    "Amadou",
    "Drissa",
    "Modibo",
    "Yacouba",
    "Lassina",
    "Abdoulaye",
    "Sekou",
    "Issa",
    "Hamidou",
    "Cheick",
    "Youssouf",
    "Alou",
    "Tiémoko",
    "Mahamane",
    "Siaka",
    "Karim",
    "Boureima",
    "Djibril",
    "Salif",
    "Fousseyni",
    "Mamoutou",
)
GIVEN_FEMALE = (
    "Aminata",
    "Fatoumata",
    "Mariam",
    "Awa",
    "Kadiatou",
    "Oumou",
    "Aïssata",
    "Hawa",
    "Salimata",
    "Rokia",
    "Djeneba",
    "Assitan",
    "Nana",
    "Fanta",
    "Korotoumou",
    "Bintou",
)
FAMILY = (
    "Traoré",
    "Diarra",
    "Coulibaly",
    "Keïta",
    "Koné",
    "Diallo",
    "Touré",
    "Sissoko",
    "Camara",
    "Sangaré",
    "Doumbia",
    "Maïga",
    "Cissé",
    "Dembélé",
    "Konaté",
    "Sidibé",
    "Bagayoko",
    "Kanté",
    "Samaké",
    "Tounkara",
    "Dicko",
    "Haïdara",
    "Ballo",
    "Fofana",
    "Sacko",
    "Guindo",
    "Togola",
    "Berthé",
    "Niaré",
    "Kouyaté",
    "Sylla",
    "Dao",
)


def given_name(rng: random.Random, sex: str) -> str:
    return rng.choice(GIVEN_FEMALE if sex == "female" else GIVEN_MALE)


def family_name(rng: random.Random) -> str:
    return rng.choice(FAMILY)


def mali_mobile(rng: random.Random) -> str:
    """An E.164 number that libphonenumber accepts as a Malian mobile."""
    while True:
        number = f"+223{rng.choice('6789')}{rng.randrange(10_000_000):07d}"
        if phonenumbers.is_valid_number(phonenumbers.parse(number)):
            return number
