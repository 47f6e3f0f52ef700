"""Use cases: record what an event calls for, deliver what is due."""
