"""One-time codes and tokens: random, short-lived, and stored only as hashes."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
DELETE_CODE_LENGTH = 6
LINK_CODE_LENGTH = 8
CODE_LIFETIME = timedelta(minutes=10)
CODE_SHAPE = re.compile(r"^[A-Z0-9]{6,8}$")


def new_code(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def normalized(typed: str) -> str | None:
    """A typed code in canonical form (upper case, no spaces or dashes), or None when it cannot be one."""
    code = typed.strip().upper().replace("-", "").replace(" ", "")
    return code if CODE_SHAPE.match(code) else None


def code_hash(purpose: str, code: str, scope: str = "") -> str:
    return hashlib.sha256(f"{purpose}:{scope}:{code}".encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """An unguessable download token and the hash kept of it."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(f"download:{token}".encode()).hexdigest()
