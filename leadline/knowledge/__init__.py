"""The knowledge base: articles, their chunks, and search over them (lexical, or hybrid with
embeddings when a provider is configured)."""
