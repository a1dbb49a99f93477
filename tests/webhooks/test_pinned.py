"""The client a delivery uses: it connects to the checked address, and TLS is still negotiated
and verified for the name in the URL, against a real TLS server on this machine."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from leadline.webhooks.http1 import Answer, Client
from leadline.webhooks.pinned import ConnectFailed
from leadline.webhooks.safety import Target
from tests.fixtures.network import fake_network

NAME = "hooks.example.test"


@dataclass
class TlsServer:
    port: int
    certificate: Path
    server_names: list[str | None] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for NAME, its own authority."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    command = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
    names = ["-subj", f"/CN={NAME}", "-addext", f"subjectAltName=DNS:{NAME}"]
    files = ["-keyout", str(key), "-out", str(cert)]
    subprocess.run([*command.split(), *names, *files], check=True, capture_output=True)
    return cert, key


@contextmanager
def tls_server(cert: Path, key: Path) -> Iterator[TlsServer]:
    state: TlsServer | None = None

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            assert state is not None
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.hosts.append(self.headers["Host"])
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            return

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def remember_name(sock: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> None:
        assert state is not None
        state.server_names.append(name)

    context.sni_callback = remember_name
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    state = TlsServer(port=int(server.server_address[1]), certificate=cert)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def post(server: TlsServer, name: str) -> Answer:
    target = Target(
        url=f"https://{name}:{server.port}/hooks",
        host=name,
        port=server.port,
        addresses=("127.0.0.1",),
    )
    trusted = ssl.create_default_context(cafile=server.certificate)

    async def main() -> Answer:
        client = Client(target, 1, ssl_context=trusted)
        try:
            return await client.post({"Content-Type": "application/json"}, b"{}")
        finally:
            client.close()

    return asyncio.run(main())


def test_tls_is_for_the_name_while_the_connection_is_to_the_checked_address(
    certificate: tuple[Path, Path],
) -> None:
    with tls_server(*certificate) as server, fake_network(["10.9.9.9"]) as network:
        assert post(server, NAME).status == 200
    assert network.dns.lookups == []  # the checked address was used as it was
    assert network.connects == [("127.0.0.1", server.port)]
    assert server.server_names == [NAME]
    assert server.hosts == [f"{NAME}:{server.port}"]


def test_a_certificate_for_another_name_is_refused(certificate: tuple[Path, Path]) -> None:
    with (
        tls_server(*certificate) as server,
        fake_network(["10.9.9.9"]),
        pytest.raises(ConnectFailed, match="certificate verify failed"),
    ):
        post(server, "other.example.test")
    assert server.server_names == ["other.example.test"]
    assert server.hosts == []
