"""Logs that cannot leak: a filter on the root logger's handlers masks secrets and e-mail addresses.

Every record the process writes passes the root handlers, whichever library logged it and at whatever
level, so the filter sits there (a filter on a logger would see only that logger's own records). It
masks, in the message (after `%` formatting, so in its arguments too), in the exception text, in the
stack and in the text fields a record carries (`extra=`, which JSON logs show): the configured
secrets (every `SecretStr` of the settings and the database password), and whatever is shaped like a
Telegram bot token, a Stripe or OpenAI key, or an e-mail address.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import quote

from pydantic import BaseModel, SecretStr
from sqlalchemy.engine import make_url

MASK = "[redacted]"
# What every record has; anything else was given with `extra=`.
RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
MIN_SECRET_CHARS = 6  # shorter values would mask ordinary words; no real secret is that short
SHAPES = (
    r"\d+:[A-Za-z0-9_-]{35}",  # a Telegram bot token (in every Bot API URL)
    r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]+",  # Stripe keys
    r"\b(?:sk|whsec)_[A-Za-z0-9_]{6,}",  # other Stripe-style secrets, webhook signing secrets
    r"\bsk-[A-Za-z0-9_-]{6,}",  # OpenAI keys (sk-..., sk-proj-...)
    r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",  # e-mail addresses
)


def configured_secrets(settings: BaseModel) -> list[str]:
    """Every secret in the settings: each `SecretStr`, however deep, and the database URL's password."""
    found: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)
        elif isinstance(value, str) and "://" in value:
            password = _password(value)
            if password:
                found.append(password)

    walk(settings)
    return found


def _password(url: str) -> str | None:
    try:
        return make_url(url).password  # type: ignore[return-value]
    except Exception:  # not a database URL
        return None


class Redactor(logging.Filter):
    """Rewrites each record it sees into its masked form; lets every record through."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        words = {form for secret in secrets if len(secret) >= MIN_SECRET_CHARS for form in _forms(secret)}
        alternatives = [re.escape(word) for word in sorted(words, key=len, reverse=True)] + list(SHAPES)
        self._pattern = re.compile("|".join(alternatives))

    def redact(self, text: str) -> str:
        return self._pattern.sub(MASK, text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the format: logging reports both, masked here
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for name, value in extra_fields(record).items():
            if isinstance(value, str):
                setattr(record, name, self.redact(value))
        return True


def extra_fields(record: logging.LogRecord) -> dict[str, object]:
    """The fields a record was given with `extra=`."""
    return {name: value for name, value in vars(record).items() if name not in RECORD_ATTRIBUTES}


def _forms(secret: str) -> set[str]:
    """The secret as written, and as it appears in a URL."""
    return {secret, quote(secret, safe="")}


def install(secrets: Iterable[str] = ()) -> None:
    """Puts a redactor on every handler of the root logger."""
    redactor = Redactor(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
