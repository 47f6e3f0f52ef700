"""Pure domain model and use cases: no I/O, no asyncpg or faststream imports."""
