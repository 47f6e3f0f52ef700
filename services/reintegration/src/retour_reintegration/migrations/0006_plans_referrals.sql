-- The partner registry, reintegration plans (revisions, items, status history) and referrals.
-- Codes, dates, ids and staff subjects only: nothing about a returnee in free text. A partner's
-- contact is an organisation's, for staff; it never leaves this schema in an event.

-- Partner organisations. Deactivated, never deleted: plan items and referrals keep them.
CREATE TABLE partners (
    partner_id    uuid        PRIMARY KEY,
    name          text        NOT NULL,
    centres       text[]      NOT NULL DEFAULT '{}',  -- reception centres served
    regions       text[]      NOT NULL DEFAULT '{}',  -- regions served (and their centres)
    services      text[]      NOT NULL,               -- aid categories offered
    contact_name  text,
    contact_phone text,
    contact_email text,
    active        boolean     NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL,
    created_by    text        NOT NULL,
    updated_at    timestamptz NOT NULL,
    updated_by    text        NOT NULL,
    CHECK (cardinality(centres) + cardinality(regions) > 0),
    CHECK (cardinality(services) > 0),
    CHECK (contact_name IS NOT NULL OR (contact_phone IS NULL AND contact_email IS NULL))
);
CREATE INDEX partners_by_name ON partners (name, partner_id);

-- One plan per case, as revisions 1, 2, ...; a revision is a draft until agreed_on is set.
CREATE TABLE plan_revisions (
    returnee_id uuid        NOT NULL REFERENCES cases,
    revision    int         NOT NULL CHECK (revision >= 1),
    drafted_at  timestamptz NOT NULL,
    drafted_by  text        NOT NULL,
    agreed_on   date,        -- the day the returnee agreed to it
    agreed_by   text,
    agreed_at   timestamptz, -- when that was recorded
    PRIMARY KEY (returnee_id, revision),
    CHECK ((agreed_on IS NULL) = (agreed_by IS NULL) AND (agreed_by IS NULL) = (agreed_at IS NULL))
);

-- The items of each revision; an item carried over keeps its item_id in the next revision.
CREATE TABLE plan_items (
    returnee_id uuid NOT NULL,
    revision    int  NOT NULL,
    item_id     uuid NOT NULL,
    position    int  NOT NULL,
    dimension   text NOT NULL,
    category    text NOT NULL,
    provider    text NOT NULL CHECK (provider IN ('retour', 'partner')),
    partner_id  uuid REFERENCES partners,
    target_date date NOT NULL,
    status      text NOT NULL,
    PRIMARY KEY (returnee_id, revision, item_id),
    FOREIGN KEY (returnee_id, revision) REFERENCES plan_revisions,
    CHECK ((provider = 'partner') = (partner_id IS NOT NULL))
);

-- Every change of an item's status: who, when, from, to (revision: the newest holding it).
CREATE TABLE plan_item_status_changes (
    change_id   bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    returnee_id uuid        NOT NULL REFERENCES cases,
    item_id     uuid        NOT NULL,
    revision    int         NOT NULL,
    from_status text        NOT NULL,
    to_status   text        NOT NULL,
    changed_at  timestamptz NOT NULL,
    changed_by  text        NOT NULL
);
CREATE INDEX plan_item_status_changes_by_case ON plan_item_status_changes (returnee_id, change_id);

-- Referrals of plan items to their partner, from the agreed revision they were made from.
CREATE TABLE referrals (
    referral_id  uuid        PRIMARY KEY,
    returnee_id  uuid        NOT NULL,
    revision     int         NOT NULL,
    plan_item_id uuid        NOT NULL,
    partner_id   uuid        NOT NULL REFERENCES partners,
    dimension    text        NOT NULL,
    category     text        NOT NULL,
    status       text        NOT NULL
        CHECK (status IN ('sent', 'accepted', 'completed', 'declined')),
    sent_at      timestamptz NOT NULL,
    sent_by      text        NOT NULL,
    status_at    timestamptz NOT NULL,
    status_by    text        NOT NULL,
    FOREIGN KEY (returnee_id, revision, plan_item_id) REFERENCES plan_items
);
-- One open referral per plan item (the use case says so first, with a 409; this holds it).
CREATE UNIQUE INDEX referrals_one_open_per_item ON referrals (returnee_id, plan_item_id)
    WHERE status IN ('sent', 'accepted');
CREATE INDEX referrals_by_case ON referrals (returnee_id, sent_at);
-- Listings: newest first, optionally by partner and status (keyset on sent_at, referral_id).
CREATE INDEX referrals_by_sending ON referrals (sent_at DESC, referral_id DESC);
CREATE INDEX referrals_by_partner ON referrals (partner_id, status, sent_at DESC);

-- Every status a referral took (the first is 'sent'): who and when.
CREATE TABLE referral_status_changes (
    change_id   bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    referral_id uuid        NOT NULL REFERENCES referrals,
    status      text        NOT NULL,
    changed_at  timestamptz NOT NULL,
    changed_by  text        NOT NULL
);
CREATE INDEX referral_status_changes_by_referral ON referral_status_changes (referral_id, change_id);
