"""Reading the rules file (TOML: stdlib parser, and no YAML surprises such as ``no`` -> False)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from retour_notifications.domain.rules import RuleBook, RulesError, parse_rules

PACKAGED_RULES = Path(__file__).resolve().parent.parent / "rules.toml"


def load_rule_book(path: Path) -> RuleBook:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise RulesError(f"{path}: {error}") from None
    try:
        return parse_rules(document)
    except RulesError as error:
        raise RulesError(f"{path}: {error}") from None
