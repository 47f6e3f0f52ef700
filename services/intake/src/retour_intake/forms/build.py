"""Regenerates the committed XForm from the XLSForm, or checks that it is current.

    python -m retour_intake.forms.build write   # after editing services/intake/forms/
    python -m retour_intake.forms.build check   # fails when registration.xml is stale

pyxform is a development dependency: it is imported here only, inside the functions, so the
service itself never needs it.
"""

from __future__ import annotations

import sys
from pathlib import Path

XLSFORM = Path(__file__).resolve().parents[3] / "forms" / "registration.md"
XFORM = Path(__file__).resolve().parent / "registration.xml"


def convert(xlsform: Path = XLSFORM) -> str:
    """The XForm pyxform makes of ``xlsform``; raises when pyxform warns of anything (a
    warning is a form a designer must fix, not one to serve)."""
    from pyxform.xls2xform import convert as pyxform_convert  # type: ignore[import-untyped]

    warnings: list[str] = []
    result = pyxform_convert(str(xlsform), warnings=warnings, pretty_print=True)
    if warnings:
        raise ValueError("pyxform warnings: " + "; ".join(warnings))
    xform: str = result.xform
    return xform + "\n"


def is_current(xlsform: Path = XLSFORM, xform: Path = XFORM) -> bool:
    return xform.exists() and xform.read_text(encoding="utf-8") == convert(xlsform)


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command == "write":
        XFORM.write_text(convert(), encoding="utf-8")
        return _say(f"wrote {XFORM}", 0)
    if command == "check":
        if is_current():
            return _say(f"{XFORM.name} is current", 0)
        return _say(f"{XFORM} is stale: run python -m retour_intake.forms.build write", 1)
    return _say("usage: python -m retour_intake.forms.build write|check", 2)


def _say(text: str, status: int) -> int:
    (sys.stdout if status == 0 else sys.stderr).write(text + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
