"""`image2bot admin broadcast`: a message to every account that turned marketing on, and only those.

The command line only records the broadcast; the running bot sends it through the delivery outbox,
one recipient at a time at the pace each platform allows, with a note on how to unsubscribe. The
position is saved with every message, so a restart continues where it stopped. One process at a time
sends (it holds the `broadcasts` lease, `core.db.leases`); should it stop, another takes over.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from core.db import leases
from core.db.models import Broadcast
from core.db.repositories import privacy as repo
from core.db.repositories.support import audit
from core.db.session import Database
from core.db.types import utcnow
from core.i18n import Translator
from core.instance import process_name
from core.messages import ChatRef, text
from core.notifier import Notifier
from core.waiting import stop_if_cancelled, until_woken

log = logging.getLogger(__name__)

BATCH = 100
DEFAULT_RATE = 5.0  # messages per second where a door declares no pace of its own
LEASE = "broadcasts"
HOLD_S = 120.0  # renewed with every batch: a batch at the slowest default pace takes 20 s


@dataclass
class Broadcasts:
    db: Database
    notifier: Notifier
    default_language: str
    rates: dict[str, float] = field(default_factory=dict)  # platform -> messages per second
    poll_interval_s: float = 30.0
    owner: str = field(default_factory=lambda: process_name("broadcasts"))
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    async def queue(self, message: str, *, actor: str) -> tuple[int, int]:
        """Records a broadcast; returns its id and how many accounts would receive it now."""
        async with self.db.transaction() as session:
            broadcast = await repo.add_broadcast(session, message)
            await audit(session, actor=actor, action="broadcast", account_id=None, details={})
            recipients = await repo.count_marketing(session)
        self._wake.set()
        return broadcast.id, recipients

    async def run(self) -> None:
        """Sends pending broadcasts until cancelled."""
        while True:
            self._wake.clear()
            try:
                while await self.send_next():
                    pass
            except Exception:
                log.exception("broadcast: sending failed; trying again shortly")
                stop_if_cancelled()
            await until_woken(self._wake, self.poll_interval_s)

    async def send_next(self) -> bool:
        """Sends the oldest pending broadcast to the end; False when there is none, or while another
        process is sending."""
        async with self.db.read() as session:
            if await repo.pending_broadcast(session) is None:
                return False
        async with self.db.transaction() as session:
            if not await self._hold(session):
                return False
            broadcast = await repo.pending_broadcast(session)  # read again, now that it is ours to send
        try:
            return broadcast is not None and await self._send(broadcast)
        finally:
            async with self.db.transaction() as session:
                await leases.give_up(session, LEASE, self.owner)

    async def _send(self, broadcast: Broadcast) -> bool:
        """True once every recipient has it; False when this process lost the lease on the way."""
        cursor, sent = broadcast.next_account, 0
        while True:
            async with self.db.transaction() as session:
                if not await self._hold(session):
                    log.warning("broadcast %s: another process took over the sending", broadcast.id)
                    return False
                batch = await repo.marketing_recipients(session, cursor, BATCH)
            if not batch:
                break
            for account_id, chat, language in batch:
                target = ChatRef.parse(chat)
                t = Translator(language or self.default_language)
                body = f"{broadcast.text}\n\n{t('privacy.broadcast.unsubscribe')}"
                async with self.db.transaction() as session:
                    await self.notifier.enqueue(
                        session, target, [text(body)], key=f"broadcast:{broadcast.id}:{account_id}"
                    )
                    await repo.advance_broadcast(session, broadcast.id, account_id + 1, 1)
                self.notifier.wake()
                sent += 1
                cursor = account_id + 1
                await asyncio.sleep(1 / self.rates.get(target.platform, DEFAULT_RATE))
        async with self.db.transaction() as session:
            await repo.finish_broadcast(session, broadcast.id, utcnow())
        log.info("broadcast %s sent to %d accounts", broadcast.id, broadcast.sent + sent)
        return True

    async def _hold(self, session: AsyncSession) -> bool:
        now = utcnow()
        return await leases.acquire(session, LEASE, self.owner, now + timedelta(seconds=HOLD_S), now)
