"""The compatible APIs: each translates its product's shapes to and from the shared services."""
