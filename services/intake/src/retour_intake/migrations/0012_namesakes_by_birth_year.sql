-- Duplicate detection among a million registrations (docs/performance.md, the registration
-- growth curve). A registration looks for namesakes born within two years of the person. The
-- index on the name alone gave every namesake (thousands for each common name, such as
-- "Mamadou Traoré", at a million people), each read from the table to compare its birth year:
-- a registration then cost more every year. With the birth year in the index, the scan reads
-- that window only. It serves every other use of the name key too (its leading column), so it
-- replaces the old index instead of adding one more to each registration's writes.
CREATE INDEX returnees_name_birth_year ON returnees (name_key, birth_year);
DROP INDEX returnees_name_key;
