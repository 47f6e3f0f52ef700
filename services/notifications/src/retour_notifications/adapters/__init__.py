"""Adapters to the outside world: the ledger and contacts in Postgres, the gateways (Kannel,
SMTP), templates, the rules file and metrics."""
