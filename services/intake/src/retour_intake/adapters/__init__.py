"""Adapters to the outside world: asyncpg repositories, outbox, publishers."""
