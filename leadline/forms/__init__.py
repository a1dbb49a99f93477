"""Sites and their domains (and, later, form definitions and lead capture)."""
