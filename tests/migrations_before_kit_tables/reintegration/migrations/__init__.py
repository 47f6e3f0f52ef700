"""SQL migrations applied by retour_kit.migrations, in file-name order."""
