"""Read side: what GET answers, read straight from the tables with SQL (no domain objects)."""
