-- Name search among a million registrations (docs/performance.md, the search growth curve).
-- The GIN trigram index finds every row whose names are similar enough to the searched ones:
-- for a common name (thousands of Traorés) tens of thousands of rows, each read from the table,
-- scored and sorted to keep twenty (p95 about 470 ms at 1,000,000, 20 ms at 100,000). A GiST
-- trigram index gives the rows in order of word similarity (the <<-> distance), so the
-- search reads the nearest 200 only and picks the latest registered among equally near ones
-- (adapters/returnee_views.py says what that changes for crowds of identical names).
-- GiST serves the similarity filter (<%) as well, so it replaces the GIN index instead of
-- adding a second one to every registration's writes. siglen 64: signatures long enough for
-- the few trigrams of a person's names. Built in the migration's transaction: registrations
-- wait while it builds, about 10 seconds per million people on the project's machine.
CREATE INDEX returnees_search_names_nearest ON returnees
    USING gist (search_names extensions.gist_trgm_ops (siglen = 64));
DROP INDEX returnees_search_names;
