"""Which API key a provider call sends.

A key saved by an admin in the settings wins over the deployment default
from the environment (``GEMINI_API_KEY`` ...).
"""

from __future__ import annotations

from flask import current_app


def provider_api_key(provider: str) -> str | None:
    """The key for ``provider``: settings first, then the environment."""
    return current_app.config.get(f"{provider.upper()}_API_KEY") or None
