"""Purging closed workspaces whose retention period is over."""
