from dataclasses import dataclass

from retour_contracts import ReceptionCentre


@dataclass(frozen=True)
class Actor:
    """Who issues a command: the staff member's user id and what their role allows."""

    subject: str
    may_exceed_budget: bool = False
    centres: frozenset[ReceptionCentre] | None = None
    """The reception centres whose cases they act on; None: every centre."""

    def works_at(self, centre: ReceptionCentre) -> bool:
        return self.centres is None or centre in self.centres
