"""WeCom's callback requests, checked before anything in them is used: the signature (made with our
token), the timestamp (within five minutes of our clock) and the corp id inside the encrypted
message.

Authenticate before parsing: the POST body (size-capped by the web server) is not parsed as XML.
WeCom's envelope is small and fixed, and only its `Encrypt` value matters, so that value is taken out
by one strict pattern, the signature over it is checked, and only then is it decrypted (wechatpy's
`PrpCrypto`). The decrypted message is parsed with defusedxml, which refuses DTDs and entities, before
wechatpy's `parse_message` reads it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError
from xml.parsers.expat import ExpatError

from defusedxml.ElementTree import fromstring
from wechatpy.enterprise import parse_message
from wechatpy.enterprise.crypto import PrpCrypto
from wechatpy.exceptions import WeChatException
from wechatpy.messages import BaseMessage

MAX_SKEW_S = 300
# The envelope's one `Encrypt` element, its value in CDATA or bare: printable ASCII (base64, when genuine).
ENCRYPT = re.compile(
    rb"<Encrypt>(?:<!\[CDATA\[([\x20-\x5c\x5e-\x7e]+)\]\]>|([\x20-\x25\x27-\x3b\x3d-\x7e]+))</Encrypt>"
)
UNREADABLE = (WeChatException, ValueError, struct.error, IndexError)  # what decrypting garbage raises
# What parsing raises on XML that is not a message (a DTD or an entity, a wrong root, a missing field, a
# table where text belongs) or on a field wechatpy cannot convert (`<AgentID>abc</AgentID>`).
UNPARSABLE = (
    ExpatError,
    ParseError,
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


@dataclass(frozen=True, slots=True)
class Opened:
    """A message from WeCom, decrypted: as wechatpy reads it, and its fields as they came."""

    message: BaseMessage
    fields: Element


class CallbackCrypto:
    def __init__(
        self, token: str, encoding_aes_key: str, corp_id: str, clock: Callable[[], float] = time.time
    ) -> None:
        self._token = token
        self._prp = PrpCrypto(base64.b64decode(encoding_aes_key + "="))
        self._corp_id = corp_id
        self._clock = clock

    def echo(self, query: Mapping[str, str]) -> str:
        """URL verification (GET): the decrypted `echostr`, which WeCom expects back."""
        stamp = self._stamp(query)
        encrypted = query.get("echostr")
        if not encrypted:
            raise Refused("no echostr")
        return self._decrypt(stamp, encrypted)

    def open(self, query: Mapping[str, str], body: bytes) -> Opened:
        """A message (POST), decrypted and readable as a message."""
        stamp = self._stamp(query)
        found = ENCRYPT.search(body) if body.count(b"<Encrypt") == 1 else None
        if found is None:
            raise Malformed("not a callback envelope")
        xml = self._decrypt(stamp, (found[1] or found[2]).decode("ascii"))
        try:  # signed with our token, yet it may still not be a message anyone can read
            fields = fromstring(xml, forbid_dtd=True)
            message = parse_message(xml)
            for field in type(message)._fields:  # wechatpy converts a field when it is first read
                getattr(message, field)
        except UNPARSABLE:
            raise Malformed("not a message") from None
        return Opened(message, fields)

    def _stamp(self, query: Mapping[str, str]) -> tuple[str, str, str]:
        signature, timestamp, nonce = (
            query.get(name, "") for name in ("msg_signature", "timestamp", "nonce")
        )
        if not (signature and nonce and timestamp.isdigit()):
            raise Refused("incomplete signature")
        if abs(self._clock() - int(timestamp)) > MAX_SKEW_S:
            raise Refused("stale timestamp")
        return signature, timestamp, nonce

    def _decrypt(self, stamp: tuple[str, str, str], encrypted: str) -> str:
        """`encrypted` opened, once the signature over it is ours (compared in constant time)."""
        signature, timestamp, nonce = stamp
        expected = hashlib.sha1("".join(sorted([self._token, timestamp, nonce, encrypted])).encode())
        if not hmac.compare_digest(expected.hexdigest().encode(), signature.encode()):
            raise Refused("wrong signature")
        try:
            return str(self._prp.decrypt(encrypted, self._corp_id))
        except UNREADABLE as error:
            raise Refused(type(error).__name__) from None
