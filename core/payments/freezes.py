"""Why an account may not start new images, and how that is told to its owner."""

from __future__ import annotations

from enum import StrEnum

from core.errors import UserError


class FreezeReason(StrEnum):
    DISPUTE = "dispute"  # a chargeback is open: lifted when it is won
    DISPUTE_LOST = "dispute_lost"  # lifted only by an operator (`image2bot admin unfreeze`)


def refusal(reason: str) -> UserError:
    """What `/imagine` answers on a frozen account: the truth about why, and where to get help."""
    if reason == FreezeReason.DISPUTE_LOST:
        return UserError("account_frozen_lost")
    return UserError("account_frozen")
