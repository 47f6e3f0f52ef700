"""Adapters to the outside world: PostgreSQL projections and report queries, Kafka offsets."""
