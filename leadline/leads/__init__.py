"""The lead pipeline: capture, status history, listing, stats."""
