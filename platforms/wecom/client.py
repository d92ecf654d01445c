"""WeCom's server API through wechatpy's `WeChatClient`, made fit for an asyncio bot.

- Our base URL for every call, the access-token request included (wechatpy hard-codes the public
  host there), so a proxy or a local WeCom-compatible endpoint works.
- A timeout on every request (wechatpy sets none), and every call in a worker thread
  (`asyncio.to_thread`), with a deadline for the whole call as a backstop.
- The access token is cached until shortly before it expires; when WeCom refuses it anyway
  (40001, 40014, 42001) a new one is fetched and the call is retried once.
- Rate limited (45009): backed off and retried a few times, then given up.
- Errors never carry URLs (they hold the access token, and the secret for `gettoken`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import requests
from wechatpy.enterprise import WeChatClient
from wechatpy.exceptions import WeChatClientException

log = logging.getLogger(__name__)

T = TypeVar("T")
DEFAULT_BASE_URL = "https://qyapi.weixin.qq.com/cgi-bin/"
TOKEN_REFUSED = frozenset({40001, 40014, 42001})
RATE_LIMITED = 45009
RATE_LIMIT_BACKOFF_S = (1.0, 2.0, 4.0)
DEADLINE_FACTOR = 6  # the whole call (a 20 MB upload included) against the per-request timeout


class WeComError(Exception):
    """WeCom refused a call (`errcode`), or could not be reached (`errcode` None)."""

    def __init__(self, api: str, errcode: int | None, detail: str = "") -> None:
        super().__init__(f"WeCom {api} failed: " + (f"errcode {errcode}" if errcode is not None else detail))
        self.api = api
        self.errcode = errcode


class _SdkClient(WeChatClient):  # type: ignore[misc]
    """wechatpy's client with our base URL for the token too, and one token fetch at a time."""

    def __init__(self, corp_id: str, secret: str, *, base_url: str, timeout_s: float) -> None:
        super().__init__(corp_id, secret, timeout=timeout_s, auto_retry=False)
        self.API_BASE_URL = base_url if base_url.endswith("/") else base_url + "/"
        self._token_lock = threading.Lock()

    def fetch_access_token(self) -> dict[str, Any]:
        """Called by wechatpy when the cached token is missing or about to expire."""
        with self._token_lock:
            if self._token_fresh():
                return {}
            return self._fetch_token()

    def refresh_access_token(self) -> None:
        with self._token_lock:
            self._fetch_token()

    def _token_fresh(self) -> bool:
        token = self.session.get(self.access_token_key)
        return bool(token) and self.expires_at is not None and self.expires_at - time.time() > 60

    def _fetch_token(self) -> dict[str, Any]:
        log.info("wecom: fetching an access token")
        response = self._http.get(
            url=f"{self.API_BASE_URL}gettoken",
            params={"corpid": self.corp_id, "corpsecret": self.secret},
            timeout=self.timeout,
        )
        response.raise_for_status()
        result: dict[str, Any] = self._handle_result(response)
        expires_in = int(result.get("expires_in", 7200))
        self.session.set(self.access_token_key, result["access_token"], expires_in)
        self.expires_at = int(time.time()) + expires_in
        return result


class WeComApi:
    """Asynchronous calls into WeCom. `call(api, request)` runs `request(client)` in a thread."""

    def __init__(
        self,
        corp_id: str,
        secret: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout_s: float = 10,
        rate_limit_backoff_s: Sequence[float] = RATE_LIMIT_BACKOFF_S,
    ) -> None:
        self._client = _SdkClient(corp_id, secret, base_url=base_url, timeout_s=timeout_s)
        self._deadline_s = timeout_s * DEADLINE_FACTOR
        self._backoff_s = tuple(rate_limit_backoff_s)

    async def call(self, api: str, request: Callable[[WeChatClient], T]) -> T:
        retries = iter(self._backoff_s)
        while True:
            try:
                async with asyncio.timeout(self._deadline_s):
                    return await asyncio.to_thread(self._once, api, request)
            except TimeoutError:
                raise WeComError(api, None, "no answer in time") from None
            except WeComError as error:
                delay = next(retries, None) if error.errcode == RATE_LIMITED else None
                if delay is None:
                    raise
                log.warning("wecom: %s is rate limited; retrying in %.1fs", api, delay)
                await asyncio.sleep(delay)

    async def post(self, api: str, body: dict[str, Any]) -> dict[str, Any]:
        """An API wechatpy 1.8 has no method for (customer service): through its base URL and token."""
        result: dict[str, Any] = await self.call(api, lambda client: client.post(api, data=body))
        return result

    async def upload(self, media_type: str, filename: str, data: bytes, mime: str) -> str:
        """Temporary media (kept three days by WeCom): returns its media_id."""
        result = await self.call(
            "media/upload", lambda client: client.media.upload(media_type, (filename, data, mime))
        )
        return str(result["media_id"])

    async def download(self, media_id: str) -> bytes:
        response = await self.call(
            "media/get", lambda client: client.get("media/get", params={"media_id": media_id})
        )
        if not isinstance(response, requests.Response):
            raise WeComError("media/get", None, "no file in the answer")
        return response.content

    def _once(self, api: str, request: Callable[[WeChatClient], T]) -> T:
        """In a worker thread: the call, with one token refresh when WeCom refuses the token."""
        try:
            try:
                return request(self._client)
            except WeChatClientException as error:
                if error.errcode not in TOKEN_REFUSED:
                    raise
                log.info(
                    "wecom: the access token was refused (errcode %s); fetching a new one", error.errcode
                )
                self._client.refresh_access_token()
                return request(self._client)
        except WeChatClientException as error:
            raise WeComError(api, error.errcode) from None
        except requests.RequestException as error:
            raise WeComError(api, None, type(error).__name__) from None
