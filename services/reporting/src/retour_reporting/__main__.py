"""`python -m retour_reporting ...`, the same as the `retour-reporting` command."""

from retour_reporting.main import cli

cli()
