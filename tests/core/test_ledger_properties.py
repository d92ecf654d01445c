"""Property test of the ledger: any mix of concurrent grants, reserves, settles and refunds keeps
balances equal to their entries and never negative, and closes every hold at most once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import credits
from core.credits import Bucket, EntryKind
from tests.harness import Harness, assert_ledger_consistent, harness_on_own_loop

ACCOUNTS = ("ann", "ben", "cat")


@dataclass(frozen=True)
class Grant:
    user: str
    amount: int
    bucket: Bucket
    key: int  # small, so the same key comes up again and must be a no-op


@dataclass(frozen=True)
class Reserve:
    user: str
    cost: int
    key: int


@dataclass(frozen=True)
class Close:
    hold: int  # index into the holds made so far
    settle: bool


users = st.sampled_from(ACCOUNTS)
operations = st.one_of(
    st.builds(Grant, users, st.integers(1, 50), st.sampled_from(list(Bucket)), st.integers(0, 20)),
    st.builds(Reserve, users, st.integers(1, 60), st.integers(0, 40)),
    st.builds(Close, st.integers(0, 60), st.booleans()),
)


@dataclass
class Ledger:
    harness: Harness
    runner: asyncio.Runner
    accounts: dict[str, int]
    holds: list[int]

    def apply_concurrently(self, batch: list[Grant | Reserve | Close]) -> None:
        self.runner.run(self._apply(batch))

    async def _apply(self, batch: list[Grant | Reserve | Close]) -> None:
        await asyncio.gather(*(self._one(operation) for operation in batch))
        await assert_ledger_consistent(self.harness.app)

    async def _one(self, operation: Grant | Reserve | Close) -> None:
        db = self.harness.app.db
        with contextlib.suppress(credits.InsufficientCredits):
            async with db.transaction() as session:
                match operation:
                    case Grant(user, amount, bucket, key):
                        await credits.grant(
                            session,
                            self.accounts[user],
                            amount,
                            kind=EntryKind.ADMIN_GRANT,
                            key=f"grant:{user}:{key}",
                            bucket=bucket,
                        )
                    case Reserve(user, cost, key):
                        hold = await credits.reserve(
                            session, self.accounts[user], cost, key=f"res:{user}:{key}"
                        )
                        self.holds.append(hold.id)
                    case Close(index, settle) if self.holds:
                        hold_id = self.holds[index % len(self.holds)]
                        await (credits.settle if settle else credits.refund)(session, hold_id)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    with harness_on_own_loop(tmp_path_factory.mktemp("ledger")) as (runner, harness):
        accounts: dict[str, int] = {}
        for user in ACCOUNTS:
            runner.run(harness.say("/start", user))
            found = runner.run(harness.app.core.services.accounts.find("test", user))
            assert found is not None
            accounts[user] = found.id
        yield Ledger(harness, runner, accounts, [])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(operations, min_size=1, max_size=12))
def test_any_concurrent_mix_of_operations_keeps_the_ledger_consistent(
    ledger: Ledger, batch: list[Grant | Reserve | Close]
) -> None:
    ledger.apply_concurrently(batch)
