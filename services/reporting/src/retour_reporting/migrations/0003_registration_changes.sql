-- Corrections and transfers (returnee.updated): the newest change of each fact a report
-- disaggregates by, per person, with the registration version that made it (the registration
-- itself is version 1). Updates travel on their own topic, so one may be read before its
-- registration (it waits here, and the registration row is written with it applied), after a
-- later one, or twice: a change replaces the one kept only when its version is newer, and a
-- registration row always shows the kept changes over its own values. Rows stay once applied:
-- their versions are what an older change read later is compared with.
-- Values in text form (retour_reporting.domain.corrections): a date in ISO 8601,
-- vulnerabilities comma-joined; age only as an age group, like registrations (no personal data).
CREATE TABLE registration_changes (
    returnee_id uuid    NOT NULL,
    field       text    NOT NULL CHECK (field IN (
        'arrival_date', 'reception_centre', 'return_type', 'host_country', 'region_of_origin',
        'sex', 'age_group', 'vulnerabilities'
    )),
    version     integer NOT NULL,
    value       text    NOT NULL,
    PRIMARY KEY (returnee_id, field)
);
