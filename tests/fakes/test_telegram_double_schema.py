"""The Telegram double's chat members are held to the Bot API's own description of ChatMember."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.telegram_api import TelegramBotAPIDouble, chat_member

SPEC_PATH = Path(__file__).resolve().parents[2].parent / "shared" / "specs" / "telegram-bot-api.json"
GROUP, OWNER, ADMIN, MEMBER = -100777, 1, 2, 3
KINDS = {
    "creator": "ChatMemberOwner",
    "administrator": "ChatMemberAdministrator",
    "member": "ChatMemberMember",
}


@cache
def spec() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text(encoding="utf-8"))


def fields(type_name: str) -> tuple[set[str], set[str]]:
    """(required, all) field names of a Bot API type."""
    described = spec()["types"][type_name]["fields"]
    return {f["name"] for f in described if f.get("required")}, {f["name"] for f in described}


@pytest.mark.parametrize("user_id", [OWNER, ADMIN, MEMBER])
def test_each_chat_member_has_exactly_what_the_bot_api_describes(user_id: int) -> None:
    double = TelegramBotAPIDouble("t")
    double.owners[GROUP] = OWNER
    double.admins[GROUP].add(ADMIN)
    member = chat_member(double, GROUP, user_id)
    required, known = fields(KINDS[member["status"]])
    assert required <= set(member), f"missing {required - set(member)}"
    assert set(member) <= known, f"not in the Bot API: {set(member) - known}"
    user_required, user_known = fields("User")
    assert user_required <= set(member["user"]) <= user_known


def test_get_chat_member_is_a_method_that_takes_a_chat_and_a_user() -> None:
    method = spec()["methods"]["getChatMember"]
    assert {f["name"] for f in method["fields"] if f["required"]} == {"chat_id", "user_id"}
    assert method["returns"] == ["ChatMember"]
    assert set(KINDS.values()) <= set(spec()["types"]["ChatMember"]["subtypes"])
