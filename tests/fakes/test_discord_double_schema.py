"""The Discord double answers in the shapes Discord's own description gives (a drift check)."""

from __future__ import annotations

import aiohttp

from tests.fakes.discord_api import DiscordDouble, discord_api, user  # noqa: F401  (a fixture)
from tests.fakes.discord_schema import response_errors


async def test_a_dm_channel_is_answered_as_discord_describes_it(discord_api: DiscordDouble) -> None:  # noqa: F811
    discord_api.users["4242"] = user(4242, "bob")
    headers = {"Authorization": f"Bot {discord_api.token}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(
            f"{discord_api.api}/users/@me/channels", json={"recipient_id": 4242}
        ) as response:
            assert response.status == 200
            channel = await response.json()
        async with http.post(f"{discord_api.api}/users/@me/channels", json={"recipient_id": 4242}) as again:
            assert (await again.json())["id"] == channel["id"], "one DM channel per person"
        async with http.post(f"{discord_api.api}/users/@me/channels", json={"recipient_id": 7}) as unknown:
            assert unknown.status == 404
    assert response_errors("PrivateChannelResponse", channel) == []
    assert channel["recipients"][0]["id"] == "4242"
