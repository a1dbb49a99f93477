"""Leadline: self-hosted lead capture, attribution, pipeline and inbox."""

__version__ = "0.1.0"
