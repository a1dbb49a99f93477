"""Domain-agnostic helpers."""
