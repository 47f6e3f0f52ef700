"""Pure domain model: rules, planning, SMS length, money, delivery states. No I/O, no asyncpg,
aiokafka or faststream imports."""
