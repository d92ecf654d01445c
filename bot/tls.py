"""One TLS context per HTTP library, shared by every HTTPS client of the process.

An httpx client left to itself builds its own `ssl.SSLContext`, and building one reads the whole CA
bundle: about 35 ms of CPU. The Telegram door has two clients and the OpenAI provider one, rebuilt
with every adapter and provider. These contexts are built once, on first use, by the library's own
function for its default (`verify=True`): certificates are verified and `SSL_CERT_FILE` /
`SSL_CERT_DIR` are honoured exactly as before.

httpx and httpx2 build their defaults differently (certifi's bundle, the system's store), so each
keeps its own. A connection sets its ALPN protocols on the context it uses; every client sharing
one speaks HTTP/1.1, so they all set the same.
"""

from __future__ import annotations

import functools
import ssl


@functools.cache
def httpx_context() -> ssl.SSLContext:
    """For `httpx` clients (python-telegram-bot's `HTTPXRequest`): `verify=` this."""
    import httpx

    return httpx.create_ssl_context()


@functools.cache
def httpx2_context() -> ssl.SSLContext:
    """For `httpx2` clients (the OpenAI SDK's): `verify=` this."""
    import httpx2

    return httpx2.create_ssl_context()
