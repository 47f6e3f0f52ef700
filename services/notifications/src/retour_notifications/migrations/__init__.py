"""SQL migrations applied by retour_kit.migrations, in file-name order."""

# The kit's tables this schema has (retour_kit/tables/), applied before this package's files:
# its consumer's inbox.
KIT_TABLES = ("inbox",)
