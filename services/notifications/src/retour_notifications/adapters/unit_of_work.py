"""Notifications' adapters, bound to the one connection of a consumer batch
(retour_kit.unit_of_work): ledger rows and contacts commit with the batch's inbox rows. The
follow-up worker's transactions bind the same adapters."""

from __future__ import annotations

from retour_kit.db import Connection
from retour_notifications.adapters.pg_contacts import PgContacts
from retour_notifications.adapters.pg_follow_ups import PgFollowUps
from retour_notifications.adapters.pg_ledger import PgLedger
from retour_notifications.adapters.pg_protection import PgProtection
from retour_notifications.adapters.pg_waves import PgExpectedWaves


class LedgerWork:
    def __init__(self, conn: Connection) -> None:
        self.ledger = PgLedger(conn)
        self.contacts = PgContacts(conn)
        self.forgetting = PgProtection(conn)
        self.follow_ups = PgFollowUps(conn)
        self.waves = PgExpectedWaves(conn)
