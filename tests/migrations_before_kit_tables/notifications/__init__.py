"""notifications's migrations as they were before the kit owned its tables."""
