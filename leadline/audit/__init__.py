"""The append-only audit log: who changed what, from where, hash-chained per workspace."""
