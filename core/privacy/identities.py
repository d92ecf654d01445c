"""Keyed hashes of platform identities: what abuse prevention keeps of a person, also after an erasure.

HMAC-SHA256 with a server secret: the same identity is recognised again (one trial per identity,
ever), but a hash cannot be turned back into the identity without the secret. The secret is
`[privacy] identity_hash_secret`; when it is unset, one is generated once and kept in the database
(`platform_state`), where every process and every later start finds the same one. Keep the setting
out of the database's backups to make the hashes unreadable to anyone holding only a backup.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.repositories import abuse
from core.db.repositories import accounts as accounts_repo
from core.db.session import Database

STATE_KEY = "privacy:identity_hash_secret"


@dataclass(frozen=True, slots=True)
class IdentityKey:
    secret: bytes

    def hashes(self, identities: Iterable[str]) -> list[str]:
        """The keyed hashes of identities like `telegram:42`."""
        return sorted({hmac.new(self.secret, i.encode(), hashlib.sha256).hexdigest() for i in identities})


@dataclass
class IdentityHasher:
    db: Database
    configured: SecretStr | None = None
    _key: IdentityKey | None = field(default=None, init=False)

    async def key(self) -> IdentityKey:
        """The key; call it before opening a transaction: the first call may store a new secret."""
        if self._key is None:
            if self.configured is not None:
                secret = self.configured.get_secret_value()
            else:
                async with self.db.transaction() as session:
                    secret = await abuse.state_once(session, STATE_KEY, secrets.token_hex(32))
            self._key = IdentityKey(secret.encode())
        return self._key


async def account_identities(session: AsyncSession, account_id: int) -> list[str]:
    """The account's identities, as `platform:user_id`."""
    return [f"{i.platform}:{i.platform_user_id}" for i in await accounts_repo.identities(session, account_id)]
