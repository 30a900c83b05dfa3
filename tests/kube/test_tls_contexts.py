"""Shared SSL contexts (perf: one per distinct trust, not one per Sovereign) never weaken TLS.

Real TLS over loopback: the simulator behind a server certificate signed by a throwaway CA, real
kubeconfigs embedding ``certificate-authority-data``, the real kubernetes_asyncio client.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import ssl
from pathlib import Path

import pytest
import yaml
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from catalyst_tui.kube.kubeconfig import load_configuration
from catalyst_tui.kube.simulator import KubeSimulator, kubeconfig_dict, write_private_file
from catalyst_tui.kube.state import WatchPhase
from catalyst_tui.kube.watcher import new_api_client

from .conftest import SPEED, Running, make_watcher, wait_for


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn)).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def server_context(tmp_path: Path, ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name("127.0.0.1")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "server.pem", tmp_path / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_path, key_path)
    return ctx


class TLSSimulator(KubeSimulator):
    """The simulator served over HTTPS."""

    def __init__(self, ssl_context: ssl.SSLContext, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self._ssl_context = ssl_context

    async def _listen(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True, ssl_context=self._ssl_context)
        await self._site.start()
        if self.port == 0:
            self.port = self._runner.addresses[0][1]

    @property
    def base_url(self) -> str:
        return f"https://{self.host}:{self.port}"


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def kubeconfig(path: Path, server: str, *, ca: bytes | None = None, insecure: bool = False, token: str = "t") -> Path:
    data = kubeconfig_dict(server=server, token=token, name="sov")
    cluster = data["clusters"][0]["cluster"]
    if ca is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca).decode()
    if insecure:
        cluster["insecure-skip-tls-verify"] = True
    return write_private_file(path, yaml.safe_dump(data))


def context_of(api_client: object) -> ssl.SSLContext:
    return api_client.rest_client.pool_manager.connector._ssl  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def cas() -> dict[str, tuple[ec.EllipticCurvePrivateKey, x509.Certificate]]:
    return {"a": make_ca("catalyst-tui test CA a"), "b": make_ca("catalyst-tui test CA b")}


async def test_same_trust_shares_a_context_and_nothing_else_does(tmp_path: Path, cas) -> None:
    ca_a, ca_b = pem(cas["a"][1]), pem(cas["b"][1])
    server = "https://127.0.0.1:6443"
    paths = {
        "a1": kubeconfig(tmp_path / "a1.yaml", server, ca=ca_a),
        "a2": kubeconfig(tmp_path / "a2.yaml", "https://127.0.0.2:6443", ca=ca_a),
        "b": kubeconfig(tmp_path / "b.yaml", server, ca=ca_b),
        "insecure": kubeconfig(tmp_path / "insecure.yaml", server, insecure=True),
        "http1": kubeconfig(tmp_path / "http1.yaml", "http://127.0.0.1:8001"),
        "http2": kubeconfig(tmp_path / "http2.yaml", "http://127.0.0.1:8002"),
    }
    clients = {k: new_api_client(await load_configuration(str(p))) for k, p in paths.items()}
    try:
        ctx = {k: context_of(c) for k, c in clients.items()}
        assert ctx["a1"] is ctx["a2"]  # the same CA: one context
        assert ctx["b"] is not ctx["a1"]  # another CA: never the same trust
        assert ctx["http1"] is ctx["http2"] and ctx["http1"] not in (ctx["a1"], ctx["b"])
        assert ctx["insecure"] not in (ctx["a1"], ctx["b"], ctx["http1"])  # the library changes its own
        assert ctx["insecure"].verify_mode == ssl.CERT_NONE
        for k in ("a1", "b", "http1"):  # shared contexts are never relaxed
            assert ctx[k].verify_mode == ssl.CERT_REQUIRED and ctx[k].check_hostname, k
        # each shared context trusts exactly its kubeconfig's CA
        subjects = {k: {c["subject"] for c in ctx[k].get_ca_certs()} for k in ("a1", "b")}
        assert subjects["a1"] == {((("commonName", "catalyst-tui test CA a"),),)}
        assert subjects["b"] == {((("commonName", "catalyst-tui test CA b"),),)}
    finally:
        for c in clients.values():
            await c.close()


async def test_a_watch_verifies_against_its_own_ca_only(tmp_path: Path, cas) -> None:
    ca_key, ca_cert = cas["a"]
    async with TLSSimulator(server_context(tmp_path, ca_key, ca_cert), speed=SPEED, bookmark_interval=0.3) as sim:
        sim.add_cluster("c1")
        server = sim.server_url("c1")
        token = sim.cluster("c1").token
        good = kubeconfig(tmp_path / "good.yaml", server, ca=pem(ca_cert), token=token)
        good2 = kubeconfig(tmp_path / "good2.yaml", server, ca=pem(ca_cert), token=token)
        wrong = kubeconfig(tmp_path / "wrong.yaml", server, ca=pem(cas["b"][1]), token=token)
        system = kubeconfig(tmp_path / "system.yaml", server, token=token)  # no CA: the system bundle
        w_good, _ = make_watcher(good, record_id="good")
        w_good2, _ = make_watcher(good2, record_id="good2")
        w_wrong, _ = make_watcher(wrong, record_id="wrong")
        w_system, _ = make_watcher(system, record_id="system")
        async with Running(w_wrong), Running(w_good), Running(w_system), Running(w_good2):
            await wait_for(lambda: w_good.status.synced and w_good2.status.synced, 10, "the CA-a watches to sync")
            await wait_for(lambda: w_wrong.stats.reconnects >= 2 and w_system.stats.reconnects >= 2, 10,
                           "the other watches to fail and retry")
            assert w_good.status.phase == WatchPhase.WATCHING
            for w in (w_wrong, w_system):
                assert not w.status.synced and w.status.phase == WatchPhase.RECONNECTING
                assert "certificate" in w.status.reason.lower(), w.status.reason
        assert sim.cluster("c1").stats.list_requests >= 2  # only the two good watches got through
