"""Serve the Anthropic Messages API from any OpenAI-compatible provider."""

__version__ = "0.1.0"
