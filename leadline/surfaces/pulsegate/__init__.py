"""The PulseGate-compatible surface: tracking (leadline.tracking.router, plain ASGI on the hot
path), forms config and lead capture. Errors are ``{"error": "..."}`` (see envelope)."""
