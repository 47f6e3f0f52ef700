"""Name normalisation for duplicate detection across centres.

The same person is written "Aïssata  Koné" in Gao and "aissata kone" in Kayes, or with given
and family names swapped. Comparison keys drop case, accents, punctuation and spacing, and the
full-name key ignores word order.
"""

from __future__ import annotations

import re
import unicodedata

_NOT_LETTERS = re.compile(r"[^a-z0-9]+")


def normalise_name(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    without_accents = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NOT_LETTERS.sub(" ", without_accents).strip()


def full_name_key(*names: str | None) -> str:
    """Order-insensitive key of all name words: 'Kone Aissata' == 'Aïssata KONÉ'."""
    words = [word for name in names if name for word in normalise_name(name).split()]
    return " ".join(sorted(words))
