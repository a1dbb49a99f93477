"""Outgoing webhooks: signed, retried, logged deliveries of workspace events."""
