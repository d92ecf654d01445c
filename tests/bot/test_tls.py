"""The bot's HTTPS clients share one TLS context per library, built once, and still verify certificates:
a server whose certificate no authority signed is refused by the Telegram door and by the OpenAI
provider, both built by `bot.app.build` as in production."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from telegram.error import NetworkError

from bot import tls
from bot.app import App, build
from core.generation.providers.base import TransientProviderError
from core.generation.providers.openai import OpenAIProvider
from core.generation.providers.pool import ProviderPool
from platforms.telegram.adapter import TelegramAdapter
from tests.harness import make_settings, sqlite_target

HOST = "127.0.0.1"


def test_each_context_verifies_certificates_and_is_built_once() -> None:
    for context in (tls.httpx_context(), tls.httpx2_context()):
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname
        assert context.cert_store_stats()["x509_ca"] > 0, "the authorities' certificates are loaded"
    assert tls.httpx_context() is tls.httpx_context()
    assert tls.httpx2_context() is tls.httpx2_context()


@pytest_asyncio.fixture
async def self_signed_https(tmp_path: Path) -> AsyncIterator[str]:
    """`https://127.0.0.1:<port>`, served with a certificate for 127.0.0.1 that no authority signed."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    served: list[str] = []

    async def anything(request: web.Request) -> web.Response:
        served.append(request.path)
        return web.json_response({"ok": True, "result": {}})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", anything)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0, ssl_context=server_side)
    await site.start()
    try:
        yield f"https://{HOST}:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
    assert served == [], "no request got past the handshake"


def production_app(tmp_path: Path, base: str) -> App:
    """The app as `image2bot run` builds it with the Telegram door and the OpenAI provider on."""
    settings = make_settings(
        sqlite_target(tmp_path),
        tmp_path,
        telegram={"enabled": True, "token": "123:abc", "base_url": f"{base}/bot"},
        openai={"api_key": "sk-test-tls", "base_url": f"{base}/v1", "moderation": True},
        generation={"provider": "openai"},
    )
    return build(settings)


async def test_the_bot_refuses_a_server_no_authority_vouches_for(
    self_signed_https: str, tmp_path: Path
) -> None:
    app = production_app(tmp_path, self_signed_https)
    try:
        [telegram] = [adapter for adapter in app.adapters if isinstance(adapter, TelegramAdapter)]
        with pytest.raises(NetworkError, match="CERTIFICATE_VERIFY_FAILED"):
            await telegram.application.bot.get_me()
        assert isinstance(app.provider, ProviderPool)
        [openai_endpoint] = app.provider.endpoints
        assert isinstance(openai_endpoint.provider, OpenAIProvider)
        with pytest.raises(TransientProviderError) as refused:  # the SDK's APIConnectionError, mapped
            await app.provider.check_prompt("a cat", "safety-id")
        assert isinstance(_root_cause(refused.value), ssl.SSLCertVerificationError)
    finally:
        await app.close()


async def test_building_the_bot_again_reads_no_certificate_bundle(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tls.httpx_context(), tls.httpx2_context()  # built once per process, whoever came first
    loads: list[str] = []
    for method in ("load_verify_locations", "load_default_certs", "set_default_verify_paths"):
        monkeypatch.setattr(
            ssl.SSLContext, method, _recording(loads, method, getattr(ssl.SSLContext, method))
        )

    app = production_app(tmp_path, f"https://{HOST}:9")
    await app.close()

    assert loads == []


def _recording(loads: list[str], name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    def record(self: ssl.SSLContext, *args: Any, **kwargs: Any) -> Any:
        loads.append(name)
        return method(self, *args, **kwargs)

    return record


def _root_cause(error: BaseException) -> BaseException:
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return error
