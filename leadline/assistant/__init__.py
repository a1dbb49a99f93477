"""The AI assistant: answers visitors from the knowledge base, or drafts replies for operators."""
