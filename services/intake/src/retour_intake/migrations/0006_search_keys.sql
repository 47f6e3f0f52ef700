-- search_key, second version (review of 0005): accents come off before lower case, so that
-- upper-case accented letters fold on any database locale ("KEÏTA" = "keita"); the letters of
-- Bambara's orthography fold too (ɛ, ɔ, ɲ, ŋ); and the body is an SQL-standard one, parsed
-- once here, whatever a later session's standard_conforming_strings says about '\1'.
CREATE OR REPLACE FUNCTION search_key(name text) RETURNS text
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

-- Stored generated columns are computed when a row is written: write the living rows again.
UPDATE returnees SET record = record WHERE erased_at IS NULL;
