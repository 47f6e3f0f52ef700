"""SQL migrations applied by retour_kit.migrations, in file-name order."""

# The kit's tables this schema has (retour_kit/tables/), applied before this package's files:
# the outbox registrations leave through, the Idempotency-Key of POST /returnees, and the
# access log of every showing of a registration.
KIT_TABLES = ("outbox", "idempotency_keys", "access_log")
