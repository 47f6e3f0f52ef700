"""The four services' migrations, and the runner that applied them, exactly as they were before
the kit owned the outbox, inbox and idempotency tables (issue 12). Frozen on purpose: they build
"a database migrated with yesterday's code" for tests/test_kit_tables_upgrade.py. Never edit.

`runner.py` is a verbatim copy of retour_kit/migrations.py of that time; each
`<service>.migrations` package holds that service's SQL files of that time.
"""
