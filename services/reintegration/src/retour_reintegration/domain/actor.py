from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """Who issues a command: the staff member's user id and what their role allows."""

    subject: str
    may_exceed_budget: bool = False
