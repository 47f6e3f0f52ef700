-- Finding a person (GET /returnees/search): by the SMS reference (the returnee id's first
-- eight hex digits: the primary key's range), by phone (returnees_phone), by national ID and
-- by name, tolerant of case, accents and the spelling variants of Malian names. Needs the
-- pg_trgm extension in the `extensions` schema, which retour_kit.provision creates (an
-- administrator's right, not the service role's); its objects are named with that schema.

-- A name as it is searched: accents off first, then lower case (so upper-case accented
-- letters fold on any database locale: "KEÏTA" = "keita"), the letters of Bambara's
-- orthography folded (ɛ, ɔ, ɲ, ŋ), letters only, and the spellings that vary for one Malian
-- name brought together (Coulibaly / Kulibali, Keïta / Keita; Diakité / Jakite is left to the
-- trigrams). Immutable, so a generated column and the query's side use the very same
-- function; an SQL-standard body, parsed once here whatever a later session's
-- standard_conforming_strings says about '\1'.
CREATE FUNCTION search_key(name text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN nullif(btrim(regexp_replace(regexp_replace(regexp_replace(regexp_replace(
    regexp_replace(regexp_replace(regexp_replace(regexp_replace(
        lower(replace(replace(replace(replace(translate(
            regexp_replace(normalize(name, NFD), '[\u0300-\u036f]', '', 'g'),
            'ɛƐɔƆ', 'eeoo'), 'ɲ', 'ny'), 'Ɲ', 'ny'), 'ŋ', 'ng'), 'Ŋ', 'ng')),
        '[^a-z]+', ' ', 'g'),
        'ou', 'u', 'g'),
        'c([aou])|qu|ck', 'k\1', 'g'),
        'ph', 'f', 'g'),
        'dj', 'j', 'g'),
        'y', 'i', 'g'),
        '([a-z])\1+', '\1', 'g'),
        ' +', ' ', 'g')), '');

-- A national ID as compared: letters and digits only, upper case ("NINA 1234-56" = "nina123456").
CREATE FUNCTION national_id_key(national_id text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN nullif(upper(regexp_replace(national_id, '[^A-Za-z0-9]', '', 'g')), '');

-- Derived from the personal block, so an erasure (which removes the block) empties them too.
ALTER TABLE returnees
    ADD COLUMN search_names text GENERATED ALWAYS AS (search_key(
        coalesce(record #>> '{personal,given_name}', '') || ' ' ||
        coalesce(record #>> '{personal,family_name}', '') || ' ' ||
        coalesce(record #>> '{personal,other_names}', ''))) STORED,
    ADD COLUMN national_id_key text GENERATED ALWAYS AS (
        national_id_key(record #>> '{personal,national_id}')) STORED,
    ADD CONSTRAINT erased_rows_are_found_by_nothing CHECK (
        erased_at IS NULL OR (search_names IS NULL AND national_id_key IS NULL));

CREATE INDEX returnees_search_names ON returnees
    USING gin (search_names extensions.gin_trgm_ops);
CREATE INDEX returnees_national_id ON returnees (national_id_key) WHERE national_id_key IS NOT NULL;
