"""The PulseGate-compatible surface: tracking (``tracking``, plain ASGI on the hot path), forms
config, lead capture and the management routes, each translating to the features' services.
Errors are ``{"error": "..."}``, mapped once in ``envelope``."""
