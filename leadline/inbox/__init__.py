"""The inbox: contacts, conversations, messages, notes and routing."""
