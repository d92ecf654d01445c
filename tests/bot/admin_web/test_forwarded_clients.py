"""Sign-in failures are counted per client address: the socket's, or the one a trusted reverse proxy
forwards. A client cannot choose the address it is counted under."""

from __future__ import annotations

from pathlib import Path

from tests.bot.admin_web.conftest import WEB, add_operator, browsing
from tests.harness import DatabaseTarget, harness_for

GUESSER = "203.0.113.5"
COLLEAGUE = "198.51.100.7"


def forwarded(address: str, proto: str = "http") -> dict[str, str]:
    return {"X-Forwarded-For": f"{address}, 10.9.9.9", "X-Forwarded-Proto": proto}


async def test_forwarded_addresses_are_ignored_unless_the_proxy_is_trusted(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    async with harness_for(database, tmp_path, web=WEB) as harness:
        await add_operator(harness.app)
        async with browsing(harness.app) as browser:
            for n in range(5):  # a new name and a new forwarded address each time
                answer = await browser.sign_in(
                    f"guess{n}", "a wrong guess", headers=forwarded(f"192.0.2.{n}")
                )
                assert answer.status == 401
            answer = await browser.sign_in(headers=forwarded(COLLEAGUE, "https"))
            assert answer.status == 429  # all came from one socket address: the limit holds


async def test_behind_a_trusted_proxy_each_forwarded_client_is_counted_on_its_own(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    web = {**WEB, "trusted_proxies": ["127.0.0.1/32", "10.0.0.0/8"]}
    async with harness_for(database, tmp_path, web=web) as harness:
        await add_operator(harness.app)
        async with browsing(harness.app) as browser:
            for n in range(5):
                answer = await browser.sign_in(f"guess{n}", "a wrong guess", headers=forwarded(GUESSER))
                assert answer.status == 401
            refused = await browser.sign_in(headers=forwarded(GUESSER))
            assert refused.status == 429
            signed_in = await browser.sign_in(headers=forwarded(COLLEAGUE, "https"))
            assert signed_in.status == 303
            assert "Secure" in signed_in.headers.get("Set-Cookie", "")  # https to the proxy
