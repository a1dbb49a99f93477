"""Daily ad spend: loading it from the platforms' exports, and reporting it against leads."""
