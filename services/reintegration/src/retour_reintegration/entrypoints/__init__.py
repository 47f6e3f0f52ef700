"""Entry points (HTTP routes, Kafka subscribers) that translate input into use-case calls."""
