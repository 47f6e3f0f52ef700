"""SQL migrations applied by retour_kit.migrations, in file-name order."""

# The kit's tables this schema has (retour_kit/tables/), applied before this package's files:
# its consumer's inbox, the outbox of its own events, and the Idempotency-Key of its POSTs.
KIT_TABLES = ("inbox", "outbox", "idempotency_keys")
