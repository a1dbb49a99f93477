"""API keys, roles and the authenticated principal."""
