"""Security of the gRPC port: TLS, mutual TLS, bearer tokens and client certificate roles.

Every test starts a real server on loopback; certificates come from a throwaway CA made here.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import re
import secrets
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from warehouse.v1 import (
    allocation_pb2,
    inventory_pb2,
    inventory_pb2_grpc,
    layout_pb2,
    layout_pb2_grpc,
    picking_pb2,
    picking_pb2_grpc,
    routing_pb2,
    routing_pb2_grpc,
)

from services import auth, config
from services.auth import METHOD_ROLES, AuthPolicy, Role, SecurityConfigError
from services.config import Settings
from services.server import WarehouseServer
from tests.conftest import ROOT, StartServer, make_settings

PLAN_ROUTE = routing_pb2.PlanRouteRequest(warehouse_id="demo", bin_ids=["A01-B1-001L"])
GET_STOCK = inventory_pb2.GetStockRequest(site_ids=["demo"], skus=["SKU-0001"])
#: An event batch that reaches the inventory (its per-event outcome does not matter here).
APPLY_EVENTS = inventory_pb2.ApplyEventsRequest(site_id="demo")


# --- a throwaway PKI -------------------------------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass(frozen=True)
class Issued:
    """A certificate and its key, as PEM bytes and as files."""

    cert: bytes
    key: bytes
    cert_file: Path
    key_file: Path


class Pki:
    """A CA that issues server and client certificates into a directory."""

    def __init__(self, directory: Path, name: str = "test CA") -> None:
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(name))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )
        self.cert_pem = self.cert.public_bytes(serialization.Encoding.PEM)
        self.cert_file = directory / f"{name.replace(' ', '-')}.pem"
        self.cert_file.write_bytes(self.cert_pem)

    def issue(self, common_name: str, *, server: bool, sans: list[str] | None = None) -> Issued:
        """A leaf certificate for ``common_name`` (a server's covers localhost and 127.0.0.1)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in sans or []]
        if server:
            names += [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
        )
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
        issued = Issued(
            cert,
            _pem_key(key),
            self.directory / f"{common_name}.crt",
            self.directory / f"{common_name}.key",
        )
        issued.cert_file.write_bytes(issued.cert)
        issued.key_file.write_bytes(issued.key)
        return issued


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    """A fresh CA in the test's directory."""
    return Pki(tmp_path)


@pytest.fixture
def server_cert(pki: Pki) -> Issued:
    """The server's certificate, for localhost and 127.0.0.1."""
    return pki.issue("warehouse-server", server=True)


def _tls_channel(server: WarehouseServer, pki: Pki, client: Issued | None = None) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=pki.cert_pem,
        private_key=client.key if client else None,
        certificate_chain=client.cert if client else None,
    )
    return grpc.secure_channel(f"localhost:{server.port}", credentials)


Metadata = tuple[tuple[str, str | bytes], ...]


def _bearer(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


# --- TLS and mutual TLS ----------------------------------------------------------------------


def test_tls_call_works_with_the_ca(
    start_server: StartServer, pki: Pki, server_cert: Issued
) -> None:
    """A client trusting the CA calls PlanRoute over TLS."""
    server = start_server(tls_cert_file=server_cert.cert_file, tls_key_file=server_cert.key_file)
    with _tls_channel(server, pki) as channel:
        response = routing_pb2_grpc.RoutingServiceStub(channel).PlanRoute(PLAN_ROUTE, timeout=10)
    assert response.distance_m > 0


def test_plaintext_client_to_tls_port_fails(start_server: StartServer, server_cert: Issued) -> None:
    """A plaintext client gets no answer from a TLS port."""
    server = start_server(tls_cert_file=server_cert.cert_file, tls_key_file=server_cert.key_file)
    with grpc.insecure_channel(server.address) as channel, pytest.raises(grpc.RpcError) as error:
        routing_pb2_grpc.RoutingServiceStub(channel).PlanRoute(PLAN_ROUTE, timeout=5)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE


def test_tls_client_distrusting_the_server_fails(
    start_server: StartServer, server_cert: Issued, tmp_path: Path
) -> None:
    """A client that trusts another CA refuses the server's certificate."""
    server = start_server(tls_cert_file=server_cert.cert_file, tls_key_file=server_cert.key_file)
    other = Pki(tmp_path, "other CA")
    with _tls_channel(server, other) as channel, pytest.raises(grpc.RpcError) as error:
        routing_pb2_grpc.RoutingServiceStub(channel).PlanRoute(PLAN_ROUTE, timeout=5)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE


def test_mtls_rejects_client_without_certificate(
    start_server: StartServer, pki: Pki, server_cert: Issued
) -> None:
    """Under mutual TLS a client without a certificate cannot call, one with it can."""
    server = start_server(
        tls_cert_file=server_cert.cert_file,
        tls_key_file=server_cert.key_file,
        tls_client_ca_file=pki.cert_file,
    )
    with _tls_channel(server, pki) as channel, pytest.raises(grpc.RpcError) as error:
        routing_pb2_grpc.RoutingServiceStub(channel).PlanRoute(PLAN_ROUTE, timeout=5)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    client = pki.issue("picker-app", server=False)
    with _tls_channel(server, pki, client) as channel:
        response = routing_pb2_grpc.RoutingServiceStub(channel).PlanRoute(PLAN_ROUTE, timeout=10)
    assert response.distance_m > 0


def test_mtls_rejects_certificate_of_another_ca(
    start_server: StartServer, pki: Pki, server_cert: Issued, tmp_path: Path
) -> None:
    """Under mutual TLS a client certificate signed by an unknown CA is refused."""
    server = start_server(
        tls_cert_file=server_cert.cert_file,
        tls_key_file=server_cert.key_file,
        tls_client_ca_file=pki.cert_file,
    )
    stranger = Pki(tmp_path, "stranger CA").issue("stranger", server=False)
    with _tls_channel(server, pki, stranger) as channel, pytest.raises(grpc.RpcError) as error:
        routing_pb2_grpc.RoutingServiceStub(channel).PlanRoute(PLAN_ROUTE, timeout=5)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE


def test_client_certificate_identity_gives_its_role(
    start_server: StartServer, pki: Pki, server_cert: Issued
) -> None:
    """Client certificates map to roles by CN or SAN; an unmapped one is UNAUTHENTICATED."""
    server = start_server(
        tls_cert_file=server_cert.cert_file,
        tls_key_file=server_cert.key_file,
        tls_client_ca_file=pki.cert_file,
        auth_client_identities="read:dashboard, write:wms-sync.example.com",
    )
    reader = pki.issue("dashboard", server=False)
    writer = pki.issue("sync-1", server=False, sans=["wms-sync.example.com"])
    unknown = pki.issue("someone", server=False)
    with _tls_channel(server, pki, reader) as channel:
        inventory = inventory_pb2_grpc.InventoryServiceStub(channel)
        assert inventory.GetStock(GET_STOCK, timeout=10).sites
        with pytest.raises(grpc.RpcError) as error:
            inventory.ApplyEvents(APPLY_EVENTS, timeout=10)
        assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with _tls_channel(server, pki, writer) as channel:
        reply = inventory_pb2_grpc.InventoryServiceStub(channel).ApplyEvents(
            APPLY_EVENTS, timeout=10
        )
        assert isinstance(reply, inventory_pb2.ApplyEventsResponse)
    with _tls_channel(server, pki, unknown) as channel, pytest.raises(grpc.RpcError) as error:
        routing_pb2_grpc.RoutingServiceStub(channel).PlanRoute(PLAN_ROUTE, timeout=10)
    assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED


# --- bearer tokens ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Tokens:
    read: str
    write: str


@pytest.fixture
def tokens() -> Tokens:
    """A random read token and write token."""
    return Tokens(read=secrets.token_urlsafe(24), write=secrets.token_urlsafe(24))


@pytest.fixture
def token_server(start_server: StartServer, tokens: Tokens, tmp_path: Path) -> WarehouseServer:
    """A plaintext loopback server with the read token in the env setting, write in a file."""
    token_file = tmp_path / "tokens"
    token_file.write_text(f"# roles of the test clients\nwrite:{tokens.write}\n")
    return start_server(auth_tokens=f"read:{tokens.read}", auth_tokens_file=token_file)


@pytest.fixture
def token_channel(token_server: WarehouseServer) -> Iterator[grpc.Channel]:
    """A plaintext channel to ``token_server``."""
    with grpc.insecure_channel(token_server.address) as channel:
        yield channel


def test_no_token_is_unauthenticated(token_channel: grpc.Channel) -> None:
    """A read without a token gets UNAUTHENTICATED, and so does a wrong or malformed token."""
    inventory = inventory_pb2_grpc.InventoryServiceStub(token_channel)
    with pytest.raises(grpc.RpcError) as error:
        inventory.GetStock(GET_STOCK, timeout=10)
    assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
    basic: Metadata = (("authorization", "Basic dXNlcjpwYXNz"),)
    for metadata in (_bearer("not-a-token"), basic):
        with pytest.raises(grpc.RpcError) as error:
            inventory.GetStock(GET_STOCK, timeout=10, metadata=metadata)
        assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_read_token_plans_routes_and_reads(token_channel: grpc.Channel, tokens: Tokens) -> None:
    """A read token may call PlanRoute and GetStock."""
    read = _bearer(tokens.read)
    route = routing_pb2_grpc.RoutingServiceStub(token_channel).PlanRoute(
        PLAN_ROUTE, timeout=10, metadata=read
    )
    assert route.distance_m > 0
    stock = inventory_pb2_grpc.InventoryServiceStub(token_channel).GetStock(
        GET_STOCK, timeout=10, metadata=read
    )
    assert stock.sites


def test_read_token_cannot_write(token_channel: grpc.Channel, tokens: Tokens) -> None:
    """A read token gets PERMISSION_DENIED on ApplyEvents, DeleteLayout and a reserving wave."""
    read = _bearer(tokens.read)
    calls: list[Callable[[], object]] = [
        lambda: inventory_pb2_grpc.InventoryServiceStub(token_channel).ApplyEvents(
            APPLY_EVENTS, timeout=10, metadata=read
        ),
        lambda: layout_pb2_grpc.LayoutServiceStub(token_channel).DeleteLayout(
            layout_pb2.DeleteLayoutRequest(warehouse_id="demo"), timeout=10, metadata=read
        ),
        lambda: picking_pb2_grpc.PickingServiceStub(token_channel).PlanWave(
            picking_pb2.PlanWaveRequest(warehouse_id="demo", reserve=True),
            timeout=10,
            metadata=read,
        ),
    ]
    for call in calls:
        with pytest.raises(grpc.RpcError) as error:
            call()
        assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # The layout is still there: the denied delete did not run.
    layout = layout_pb2_grpc.LayoutServiceStub(token_channel).GetLayout(
        layout_pb2.GetLayoutRequest(warehouse_id="demo"), timeout=10, metadata=read
    )
    assert layout.id == "demo"


def test_read_token_may_plan_a_wave_without_reserving(
    token_channel: grpc.Channel, tokens: Tokens
) -> None:
    """PlanWave without `reserve` needs only read: it gets past authorization."""
    with pytest.raises(grpc.RpcError) as error:
        picking_pb2_grpc.PickingServiceStub(token_channel).PlanWave(
            picking_pb2.PlanWaveRequest(warehouse_id="demo"),
            timeout=10,
            metadata=_bearer(tokens.read),
        )
    # No orders: the servicer itself refuses the request.
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_write_token_writes(token_channel: grpc.Channel, tokens: Tokens) -> None:
    """A write token may call ApplyEvents and, write implying read, PlanRoute."""
    write = _bearer(tokens.write)
    reply = inventory_pb2_grpc.InventoryServiceStub(token_channel).ApplyEvents(
        APPLY_EVENTS, timeout=10, metadata=write
    )
    assert isinstance(reply, inventory_pb2.ApplyEventsResponse)
    route = routing_pb2_grpc.RoutingServiceStub(token_channel).PlanRoute(
        PLAN_ROUTE, timeout=10, metadata=write
    )
    assert route.distance_m > 0


def test_read_token_cannot_stream_a_snapshot(token_channel: grpc.Channel, tokens: Tokens) -> None:
    """The client-streaming ReplaceStock is refused to a read token before any row applies."""
    header = inventory_pb2.ReplaceStockRequest(
        header=inventory_pb2.SnapshotHeader(site_id="demo", level=inventory_pb2.STOCK_LEVEL_BIN)
    )
    with pytest.raises(grpc.RpcError) as error:
        inventory_pb2_grpc.InventoryServiceStub(token_channel).ReplaceStock(
            iter([header]), timeout=10, metadata=_bearer(tokens.read)
        )
    assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_health_and_reflection_need_no_token(token_channel: grpc.Channel) -> None:
    """Health checks and server reflection answer callers without a token."""
    health = health_pb2_grpc.HealthStub(token_channel).Check(
        health_pb2.HealthCheckRequest(service=""), timeout=10
    )
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    responses = reflection_pb2_grpc.ServerReflectionStub(token_channel).ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10
    )
    names = {s.name for r in responses for s in r.list_services_response.service}
    assert "warehouse.v1.RoutingService" in names


def test_tokens_never_reach_logs_or_metrics(
    token_server: WarehouseServer,
    token_channel: grpc.Channel,
    tokens: Tokens,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Token values appear in no log record nor in /metrics; denials are logged by fingerprint."""
    caplog.set_level(logging.DEBUG)
    wrong = secrets.token_urlsafe(24)
    routing = routing_pb2_grpc.RoutingServiceStub(token_channel)
    inventory = inventory_pb2_grpc.InventoryServiceStub(token_channel)
    routing.PlanRoute(PLAN_ROUTE, timeout=10, metadata=_bearer(tokens.read))
    inventory.ApplyEvents(APPLY_EVENTS, timeout=10, metadata=_bearer(tokens.write))
    with pytest.raises(grpc.RpcError):
        inventory.ApplyEvents(APPLY_EVENTS, timeout=10, metadata=_bearer(tokens.read))
    with pytest.raises(grpc.RpcError):
        inventory.GetStock(GET_STOCK, timeout=10, metadata=_bearer(wrong))
    url = f"http://127.0.0.1:{token_server.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as reply:
        metrics = reply.read().decode()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert f"unknown bearer token {auth.fingerprint(wrong)}" in logged
    assert f"token {auth.fingerprint(tokens.read)}" in logged
    for secret in (tokens.read, tokens.write, wrong):
        assert secret not in logged
        assert secret not in caplog.text
        assert secret not in metrics
    # The denials are counted by code, without any caller detail.
    assert re.search(
        r'grpc_server_handled_total\{grpc_code="PERMISSION_DENIED",grpc_method="ApplyEvents"',
        metrics,
    )
    assert 'grpc_code="UNAUTHENTICATED"' in metrics


def test_settings_repr_hides_tokens(tokens: Tokens) -> None:
    """Settings read tokens from WAREHOUSE_AUTH_TOKENS, and their repr never shows them."""
    settings = config.load([], {"WAREHOUSE_AUTH_TOKENS": f"read:{tokens.read}"})
    assert settings.auth_tokens == f"read:{tokens.read}"
    assert tokens.read not in repr(settings)


# --- the permission table and the start-up checks --------------------------------------------


def test_every_method_of_the_protos_is_classified() -> None:
    """METHOD_ROLES lists exactly the methods of the warehouse.v1 services."""
    methods = {
        f"/{service.full_name}/{method.name}"
        for module in (
            layout_pb2,
            routing_pb2,
            inventory_pb2,
            picking_pb2,
            allocation_pb2,
        )
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    }
    assert set(METHOD_ROLES) == methods
    writes = {m.rsplit("/", 1)[1] for m, r in METHOD_ROLES.items() if r is Role.WRITE}
    assert writes == {
        "PutLayout",
        "DeleteLayout",
        "ReplaceStock",
        "ApplyEvents",
        "Reserve",
        "ReleaseReservation",
    }


def test_unlisted_method_is_denied(
    token_server: WarehouseServer, tokens: Tokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A served method missing from the table is PERMISSION_DENIED even to a write token."""
    monkeypatch.delitem(METHOD_ROLES, "/warehouse.v1.RoutingService/PlanRoute")
    with grpc.insecure_channel(token_server.address) as channel, pytest.raises(grpc.RpcError) as e:
        routing_pb2_grpc.RoutingServiceStub(channel).PlanRoute(
            PLAN_ROUTE, timeout=10, metadata=_bearer(tokens.write)
        )
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_auth_off_by_default_and_warns_off_loopback(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Without tokens calls need none; a non-loopback listener without auth logs one warning."""
    caplog.set_level(logging.WARNING, logger="services.auth")
    server = start_server()
    assert not caplog.records
    with grpc.insecure_channel(server.address) as channel:
        assert routing_pb2_grpc.RoutingServiceStub(channel).PlanRoute(PLAN_ROUTE, timeout=10)
    exposed = start_server(listen_address="0.0.0.0:0", metrics_port=-1)
    warnings = [r for r in caplog.records if "without authorization" in r.getMessage()]
    assert len(warnings) == 1 and exposed.port > 0
    assert not AuthPolicy().enabled


def _start_error(**overrides: object) -> str:
    """The message of the SecurityConfigError a server with ``overrides`` fails to start with."""
    settings = make_settings(Path("unused.db"), **overrides)
    with pytest.raises(SecurityConfigError) as error:
        WarehouseServer(settings)
    return str(error.value)


def test_unreadable_and_mismatched_files_fail_the_start(
    pki: Pki, server_cert: Issued, tmp_path: Path
) -> None:
    """Missing, mismatched or non-PEM files fail the start naming the setting and the path."""
    missing = tmp_path / "nope.key"
    message = _start_error(tls_cert_file=server_cert.cert_file, tls_key_file=missing)
    assert "tls_key_file (WAREHOUSE_TLS_KEY_FILE)" in message and str(missing) in message
    other = pki.issue("other-server", server=True)
    message = _start_error(tls_cert_file=server_cert.cert_file, tls_key_file=other.key_file)
    assert "WAREHOUSE_TLS_CERT_FILE" in message and str(other.key_file) in message
    assert "KEY_VALUES_MISMATCH" in message
    garbage = tmp_path / "ca.pem"
    garbage.write_text("not a certificate\n")
    message = _start_error(
        tls_cert_file=server_cert.cert_file,
        tls_key_file=server_cert.key_file,
        tls_client_ca_file=garbage,
    )
    assert (
        "tls_client_ca_file (WAREHOUSE_TLS_CLIENT_CA_FILE)" in message and str(garbage) in message
    )
    message = _start_error(auth_tokens_file=tmp_path / "tokens.missing")
    assert "WAREHOUSE_AUTH_TOKENS_FILE" in message and "tokens.missing" in message


def test_bad_token_entries_fail_without_echoing_the_token(tmp_path: Path) -> None:
    """A malformed or contradictory token entry fails the start; the message hides the token."""
    secret = secrets.token_urlsafe(24)
    message = _start_error(auth_tokens=f"admin:{secret}")
    assert "WAREHOUSE_AUTH_TOKENS" in message and secret not in message
    token_file = tmp_path / "tokens"
    token_file.write_text(f"read:{secret}\n\nwrite:{secret}\n")
    message = _start_error(auth_tokens_file=token_file)
    assert "line 3" in message and auth.fingerprint(secret) in message and secret not in message


def test_inconsistent_tls_settings_are_refused(pki: Pki) -> None:
    """A certificate without a key, or client identities without mutual TLS, are refused."""
    with pytest.raises(ValueError, match="tls_cert_file and tls_key_file"):
        Settings(tls_cert_file=pki.cert_file)
    with pytest.raises(ValueError, match="auth_client_identities needs tls_client_ca_file"):
        Settings(auth_client_identities="read:dashboard")
    with pytest.raises(SystemExit):
        config.load([], {"WAREHOUSE_TLS_CLIENT_CA_FILE": str(pki.cert_file)})


def test_server_process_reports_bad_tls_file(tmp_path: Path) -> None:
    """`python -m services.server` with a missing key exits 2 with the setting on stderr."""
    missing = tmp_path / "server.key"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.server",
            "--tls-cert-file",
            str(tmp_path / "server.crt"),
            "--tls-key-file",
            str(missing),
            "--db-path",
            str(tmp_path / "w.db"),
        ],
        cwd=ROOT,
        env={"PYTHONPATH": f"{ROOT}:{ROOT / 'protos'}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "tls_cert_file (WAREHOUSE_TLS_CERT_FILE)" in result.stderr
    assert "Traceback" not in result.stderr
