"""WeCom's callback encryption, written here from WeCom's description rather than taken from wechatpy,
so the adapter is checked against an independent implementation of the scheme, not only against the
library that also decrypts.

- key = base64(EncodingAESKey + "="), 32 bytes; AES-256-CBC with IV = key[:16]
- plaintext = 16 random bytes + 4-byte big-endian length + message + corp id, PKCS#7-padded to 32 bytes
- signature = sha1 of the sorted, concatenated [token, timestamp, nonce, encrypt]
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import struct
import time
from dataclasses import dataclass
from xml.sax.saxutils import escape

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32


@dataclass(frozen=True, slots=True)
class Callback:
    """One request as WeCom would send it: the query string and the POST body."""

    query: dict[str, str]
    body: bytes = b""


class WeComCallbackCrypto:
    def __init__(self, token: str, encoding_aes_key: str, corp_id: str) -> None:
        self.token = token
        self.corp_id = corp_id
        self.key = base64.b64decode(encoding_aes_key + "=")
        assert len(self.key) == 32

    def signature(self, timestamp: str, nonce: str, encrypt: str) -> str:
        return hashlib.sha1("".join(sorted([self.token, timestamp, nonce, encrypt])).encode()).hexdigest()

    def encrypt(self, message: str, *, corp_id: str | None = None) -> str:
        body = message.encode()
        plain = os.urandom(16) + struct.pack(">I", len(body)) + body + (corp_id or self.corp_id).encode()
        padding = BLOCK - len(plain) % BLOCK
        plain += bytes([padding]) * padding
        encryptor = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()

    def url_verification(self, echo: str, *, timestamp: int | None = None) -> Callback:
        """The GET WeCom sends when the callback URL is saved: the answer must be `echo`."""
        encrypted = self.encrypt(echo)
        return Callback(self._query(encrypted, timestamp) | {"echostr": encrypted})

    def message(
        self,
        xml: str,
        *,
        corp_id: str | None = None,
        timestamp: int | None = None,
        signature: str | None = None,
    ) -> Callback:
        """A POST carrying `xml` encrypted; `corp_id` and `signature` forge it where given."""
        encrypted = self.encrypt(xml, corp_id=corp_id)
        query = self._query(encrypted, timestamp)
        if signature is not None:
            query["msg_signature"] = signature
        envelope = (
            f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt><AgentID><![CDATA[1]]></AgentID></xml>"
        )
        return Callback(query, envelope.encode())

    def _query(self, encrypted: str, timestamp: int | None) -> dict[str, str]:
        stamp = str(timestamp if timestamp is not None else int(time.time()))
        nonce = secrets.token_hex(5)
        return {"msg_signature": self.signature(stamp, nonce, encrypted), "timestamp": stamp, "nonce": nonce}


def member_text(corp_id: str, user: str, content: str, msg_id: int, agent_id: int) -> str:
    return _member_message(corp_id, user, "text", f"<Content>{_cdata(content)}</Content>", msg_id, agent_id)


def member_image(corp_id: str, user: str, media_id: str, msg_id: int, agent_id: int) -> str:
    url = f"https://wework.example/{media_id}"
    fields = f"<PicUrl>{_cdata(url)}</PicUrl><MediaId>{_cdata(media_id)}</MediaId>"
    return _member_message(corp_id, user, "image", fields, msg_id, agent_id)


def kf_event(corp_id: str, token: str, open_kfid: str) -> str:
    return (
        f"<xml><ToUserName>{_cdata(corp_id)}</ToUserName><CreateTime>{int(time.time())}</CreateTime>"
        f"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event>"
        f"<Token>{_cdata(token)}</Token><OpenKfId>{_cdata(open_kfid)}</OpenKfId></xml>"
    )


def _member_message(corp_id: str, user: str, kind: str, fields: str, msg_id: int, agent_id: int) -> str:
    return (
        f"<xml><ToUserName>{_cdata(corp_id)}</ToUserName><FromUserName>{_cdata(user)}</FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType>{_cdata(kind)}</MsgType>{fields}"
        f"<MsgId>{msg_id}</MsgId><AgentID>{agent_id}</AgentID></xml>"
    )


def _cdata(value: str) -> str:
    if "]]>" in value:
        return escape(value)
    return f"<![CDATA[{value}]]>"
