"""Idempotency-Key: a retried write returns its first answer instead of acting twice."""
