"""Use cases of reporting and the ports they need (implemented in adapters/)."""
