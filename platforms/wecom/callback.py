"""WeCom's callback requests, checked before anything in them is used: the signature (made with our
token), the timestamp (within five minutes of our clock) and the corp id inside the encrypted
message. Decryption is wechatpy's `WeChatCrypto`."""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Mapping
from xml.etree import ElementTree
from xml.parsers.expat import ExpatError

from wechatpy.enterprise import parse_message
from wechatpy.enterprise.crypto import WeChatCrypto
from wechatpy.exceptions import WeChatException

MAX_SKEW_S = 300
UNREADABLE = (WeChatException, ValueError, struct.error, IndexError)  # what decrypting garbage raises
# What wechatpy raises on XML that is not a message (a wrong root, a missing field, a table where text
# belongs, an entity declaration) or on a field it cannot convert (`<AgentID>abc</AgentID>`).
UNPARSABLE = (
    ExpatError,
    ElementTree.ParseError,
    KeyError,
    TypeError,
    ValueError,
    AttributeError,
    OverflowError,
    OSError,
)


class Refused(Exception):
    """The request is not WeCom's for this app: forged, stale, or for another corp."""


class Malformed(Exception):
    """The request body is not a WeCom callback envelope."""


class CallbackCrypto:
    def __init__(
        self, token: str, encoding_aes_key: str, corp_id: str, clock: Callable[[], float] = time.time
    ) -> None:
        self._crypto = WeChatCrypto(token, encoding_aes_key, corp_id)
        self._clock = clock

    def echo(self, query: Mapping[str, str]) -> str:
        """URL verification (GET): the decrypted `echostr`, which WeCom expects back."""
        signature, timestamp, nonce = self._stamp(query)
        encrypted = query.get("echostr")
        if not encrypted:
            raise Refused("no echostr")
        try:
            return str(self._crypto.check_signature(signature, timestamp, nonce, encrypted))
        except UNREADABLE as error:
            raise Refused(type(error).__name__) from None

    def open(self, query: Mapping[str, str], body: bytes) -> str:
        """A message (POST): its XML, decrypted, and readable as a message."""
        signature, timestamp, nonce = self._stamp(query)
        try:
            encrypted = ElementTree.fromstring(body).findtext("Encrypt")
        except ElementTree.ParseError:
            encrypted = None
        if not encrypted:
            raise Malformed("not a callback envelope")
        try:
            xml = str(self._crypto.decrypt_message({"Encrypt": encrypted}, signature, timestamp, nonce))
        except UNREADABLE as error:
            raise Refused(type(error).__name__) from None
        try:  # signed with our token, yet it may still not be a message anyone can read
            ElementTree.fromstring(xml)
            message = parse_message(xml)
            for field in type(message)._fields:  # wechatpy converts a field when it is first read
                getattr(message, field)
        except UNPARSABLE:
            raise Malformed("not a message") from None
        return xml

    def _stamp(self, query: Mapping[str, str]) -> tuple[str, str, str]:
        signature, timestamp, nonce = (
            query.get(name, "") for name in ("msg_signature", "timestamp", "nonce")
        )
        if not (signature and nonce and timestamp.isdigit()):
            raise Refused("incomplete signature")
        if abs(self._clock() - int(timestamp)) > MAX_SKEW_S:
            raise Refused("stale timestamp")
        return signature, timestamp, nonce
