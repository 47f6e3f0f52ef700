"""The kit's own tables, as SQL migrations that `retour_kit.migrations` applies into the schema
of every service declaring them (`KIT_TABLES` in the service's migrations package).

One file creates each table (`inbox.sql`). Each is written with IF NOT EXISTS, so a schema whose
own migrations created the table before the kit owned it adopts it as it is. A later change to a
kit table is a new file (`inbox_by_age.sql`), registered in
`retour_kit.migrations.KIT_MIGRATIONS` under a new version; a released file is never edited (the
runner refuses it, as it refuses an edited service file).
"""
