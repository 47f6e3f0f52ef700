"""SMS length in segments: GSM-7 (160, then 153 per part) or UCS-2 (70, then 67 per part)."""

import pytest

from retour_notifications.domain.sms_text import Encoding, fit, is_gsm7, measure, to_gsm7


class TestMeasure:
    @pytest.mark.parametrize(
        ("length", "segments"), [(0, 1), (1, 1), (160, 1), (161, 2), (306, 2), (307, 3)]
    )
    def test_gsm7_fits_160_alone_then_153_per_part(self, length: int, segments: int) -> None:
        measured = measure("a" * length)

        assert measured.encoding is Encoding.GSM7
        assert (measured.units, measured.segments) == (length, segments)

    def test_french_accents_of_the_gsm_alphabet_stay_gsm7(self) -> None:
        assert measure("Vous avez été enregistré(e) à Ségou, où...").encoding is Encoding.GSM7

    @pytest.mark.parametrize("char", list("^{}\\[~]|€"))
    def test_extension_characters_cost_two_septets(self, char: str) -> None:
        assert measure("a" * 158 + char) == measure("a" * 160)
        assert measure("a" * 159 + char).segments == 2

    def test_an_escape_pair_is_never_split_across_parts(self) -> None:
        # 152 septets then a two-septet euro: it cannot straddle the 153 boundary.
        text = "a" * 152 + "€" + "a" * 100

        assert measure(text).units == 254
        assert measure(text).segments == 2
        assert measure("a" * 152 + "€" + "a" * 152).segments == 3

    @pytest.mark.parametrize(("length", "segments"), [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3)])
    def test_one_character_outside_gsm7_makes_it_ucs2(self, length: int, segments: int) -> None:
        measured = measure("ê" * length)

        assert measured.encoding is Encoding.UCS2
        assert measured.segments == segments

    def test_an_emoji_takes_two_units_and_is_not_split(self) -> None:
        assert measure("😀").units == 2
        assert measure("a" * 68 + "😀").segments == 1
        assert measure("a" * 66 + "😀" + "a" * 10).segments == 2
        assert measure("a" * 133 + "😀").segments == 3  # 67 + 66, the pair opens a third part


class TestFit:
    def test_text_that_fits_is_sent_as_written(self) -> None:
        fitted = fit("Vous êtes enregistré(e).", max_segments=1)

        assert (fitted.text, fitted.adjustment) == ("Vous êtes enregistré(e).", "none")
        assert fitted.length.encoding is Encoding.UCS2

    def test_too_long_in_ucs2_is_spelled_in_gsm7(self) -> None:
        text = "Vous êtes enregistré(e) à la maison d'accueil ; reçu « complet » " * 2

        fitted = fit(text, max_segments=1)

        assert fitted.adjustment == "transliterated"
        assert is_gsm7(fitted.text)
        assert "Vous etes" in fitted.text and "recu" in fitted.text and '" complet "' in fitted.text
        assert fitted.length.segments == 1

    def test_still_too_long_is_shortened_at_a_word_within_the_limit(self) -> None:
        text = " ".join(["mot"] * 200)

        fitted = fit(text, max_segments=2)

        assert fitted.adjustment == "shortened"
        assert fitted.length.segments == 2
        assert fitted.text.endswith("mot...")
        assert measure(fitted.text).units <= 306

    def test_a_single_endless_word_is_cut(self) -> None:
        fitted = fit("x" * 500, max_segments=1)

        assert fitted.text == "x" * 157 + "..."

    def test_gsm7_spelling_keeps_what_gsm7_has(self) -> None:
        typography = "\u2013 \u2026 \u2019"  # en dash, ellipsis, apostrophe
        assert to_gsm7("où à é è ù Ç ñ ü") == "où à é è ù Ç ñ ü"
        assert to_gsm7(f"ï ô œ {typography}") == "i o oe - ... '"
        assert to_gsm7("日本") == "??"
