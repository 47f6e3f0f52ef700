-- The immediate-care watch (domain/immediate_care.py) reads, every minute, the open cases
-- arrived in the last ten days: an index on their arrival day keeps that read small whatever
-- the number of cases the programme has opened over the years.
CREATE INDEX cases_open_by_arrival ON cases (arrival_date) WHERE status = 'open';
