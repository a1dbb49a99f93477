"""Tracking events in ClickHouse (ADR 0014): the client interface, its two engines and the
tables."""
