"""Reliability drills against the real local stack (docs/drills.md): `make drills`."""
