"""Pure domain of reporting: projection rows, report queries and results, disclosure rules.

No I/O here, no asyncpg or aiokafka imports; the contract models are the input.
"""
