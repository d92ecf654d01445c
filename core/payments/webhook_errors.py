"""What a refused Stripe webhook raises, apart from the gateway, so the web handler that answers 400 needs
no Stripe SDK loaded in a bot that sells nothing through Stripe."""

from __future__ import annotations


class InvalidWebhook(Exception):
    """The payload is not a Stripe event signed with our secret, or its signature is too old.
    `reason`: `invalid_signature`, or `malformed` (signed, but not an event)."""

    def __init__(self, message: str, reason: str = "invalid_signature") -> None:
        super().__init__(message)
        self.reason = reason
