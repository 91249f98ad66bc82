"""Ask a server's grpc.health.v1 service whether it is SERVING; exit 0 if so, 1 otherwise.

``python -m services.healthcheck [--address HOST:PORT] [--service NAME] [--timeout S]`` is the
container's HEALTHCHECK. Without ``--address`` it checks, on loopback, the plaintext health port
of ``WAREHOUSE_HEALTH_PORT`` when one is set, else the port of ``WAREHOUSE_LISTEN_ADDRESS``.
``--tls-ca`` (and ``--tls-cert``/``--tls-key`` for mutual TLS) checks a TLS gRPC port.

Exit codes follow Docker's HEALTHCHECK: 0 healthy, 1 unhealthy (NOT_SERVING, unknown service,
unreachable, timeout). Nothing but grpc and the health stubs is imported, so a check stays cheap.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

DEFAULT_ADDRESS = "127.0.0.1:50051"
HEALTHY, UNHEALTHY = 0, 1


def default_address(environ: Mapping[str, str], *, tls: bool = False) -> str:
    """Loopback ``host:port`` of the server configured by ``WAREHOUSE_LISTEN_ADDRESS``: its
    plaintext health port when ``WAREHOUSE_HEALTH_PORT`` sets one (and ``tls`` is off), else
    its gRPC port."""
    host, _, port = (environ.get("WAREHOUSE_LISTEN_ADDRESS", "") or DEFAULT_ADDRESS).rpartition(":")
    health_port = environ.get("WAREHOUSE_HEALTH_PORT", "").strip()
    if not tls and health_port.isdigit() and int(health_port) > 0:
        port = health_port
    if host in ("", "0.0.0.0", "[::]", "::"):
        host = "127.0.0.1"
    return f"{host}:{port}"


def _channel(args: argparse.Namespace) -> grpc.Channel:
    if args.tls_ca is None:
        return grpc.insecure_channel(args.address)
    cert = args.tls_cert.read_bytes() if args.tls_cert else None
    key = args.tls_key.read_bytes() if args.tls_key else None
    credentials = grpc.ssl_channel_credentials(args.tls_ca.read_bytes(), key, cert)
    options = []
    if args.tls_server_name:
        options.append(("grpc.ssl_target_name_override", args.tls_server_name))
    return grpc.secure_channel(args.address, credentials, options=options)


def check(args: argparse.Namespace) -> tuple[int, str]:
    """Run one Check call; return the exit code and a one-line reason."""
    try:
        with _channel(args) as channel:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=args.service), timeout=args.timeout
            )
    except grpc.RpcError as exc:
        code = exc.code() if isinstance(exc, grpc.Call) else None
        name = code.name if code is not None else "error"
        return UNHEALTHY, f"{args.address}: {name}: {exc.details() if code else exc}"
    except OSError as exc:  # unreadable TLS file
        return UNHEALTHY, f"{args.address}: {exc}"
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    code = HEALTHY if response.status == health_pb2.HealthCheckResponse.SERVING else UNHEALTHY
    return code, f"{args.address} service {args.service or '(server)'!r}: {status}"


def parse_args(argv: Sequence[str], environ: Mapping[str, str]) -> argparse.Namespace:
    """Command-line options; ``--address`` defaults to the configured server on loopback."""
    parser = argparse.ArgumentParser(
        prog="python -m services.healthcheck",
        description="Exit 0 when the gRPC health service reports SERVING, 1 otherwise.",
    )
    parser.add_argument("--address", help="host:port (default: the configured server's, above)")
    parser.add_argument("--service", default="", help="service name; empty for the server")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds (default 3)")
    parser.add_argument("--tls-ca", type=Path, help="PEM CA bundle: connect over TLS")
    parser.add_argument("--tls-cert", type=Path, help="PEM client certificate (mutual TLS)")
    parser.add_argument("--tls-key", type=Path, help="PEM client private key (mutual TLS)")
    parser.add_argument("--tls-server-name", help="name the server certificate must carry")
    parser.add_argument("--quiet", action="store_true", help="print nothing")
    args = parser.parse_args(argv)
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    if args.tls_ca is None and (args.tls_cert or args.tls_server_name):
        parser.error("--tls-cert, --tls-key and --tls-server-name need --tls-ca")
    if not args.timeout > 0:
        parser.error("--timeout must be > 0")
    if args.address is None:
        args.address = default_address(environ, tls=args.tls_ca is not None)
    return args


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Entry point of ``python -m services.healthcheck``."""
    args = parse_args(
        sys.argv[1:] if argv is None else argv, os.environ if environ is None else environ
    )
    code, reason = check(args)
    if not args.quiet:
        print(reason, file=sys.stdout if code == HEALTHY else sys.stderr)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
