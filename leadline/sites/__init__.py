"""Sites: their domains and public keys, their form definitions, the workspaces' address rules,
and the in-memory cache of sites by key that tracking, forms config and lead capture share."""
