"""Security of the gRPC port: TLS/mTLS credentials, and read/write authorization of every call.

Callers authenticate with a bearer token (``authorization: Bearer <token>`` metadata) and, under
mutual TLS, with their client certificate (its subject CN or a SAN). Each token or certificate
identity maps to a role: ``read`` or ``write`` (write implies read). :data:`METHOD_ROLES` says,
for every method of ``warehouse.v1``, which role it needs; a method missing there is denied.
Health checks and server reflection stay open.

With neither tokens nor client identities configured, authorization is off. Token values are
never logged nor kept: the policy holds their SHA-256 digests, compares them in constant time,
and logs at most a role and an 8-hex-digit fingerprint.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import ipaddress
import logging
import ssl
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, NoReturn

import grpc

from services.config import Settings
from services.config import _env_name as env_name
from services.interceptors import Handler, MethodInterceptor

log = logging.getLogger(__name__)


class SecurityConfigError(ValueError):
    """A TLS or authorization setting is wrong: the message names the setting and the file."""


class Role(enum.IntEnum):
    """What a caller may do; a higher role includes the lower ones."""

    READ = 1
    WRITE = 2


@dataclass(frozen=True)
class WriteIf:
    """Needs READ, and WRITE when ``changes(request)`` (the request asks to change state)."""

    changes: Callable[[Any], bool]
    why: str

    def needed(self, request: Any) -> Role:
        return Role.WRITE if self.changes(request) else Role.READ


Requirement = Role | WriteIf

#: Every method of ``warehouse.v1`` and the role it needs. A method missing here is denied (the
#: tests check that every method of the protos is listed).
METHOD_ROLES: Final[Mapping[str, Requirement]] = {
    # LayoutService
    "/warehouse.v1.LayoutService/PutLayout": Role.WRITE,
    "/warehouse.v1.LayoutService/GetLayout": Role.READ,
    "/warehouse.v1.LayoutService/ListLayouts": Role.READ,
    "/warehouse.v1.LayoutService/DeleteLayout": Role.WRITE,
    # RoutingService
    "/warehouse.v1.RoutingService/PlanRoute": Role.READ,
    "/warehouse.v1.RoutingService/PlanRoutes": Role.READ,
    # InventoryService
    "/warehouse.v1.InventoryService/ReplaceStock": Role.WRITE,
    "/warehouse.v1.InventoryService/ApplyEvents": Role.WRITE,
    "/warehouse.v1.InventoryService/GetStock": Role.READ,
    "/warehouse.v1.InventoryService/GetSiteState": Role.READ,
    "/warehouse.v1.InventoryService/Reserve": Role.WRITE,
    "/warehouse.v1.InventoryService/ReleaseReservation": Role.WRITE,
    # PickingService: planning reads, but `reserve` holds stock like InventoryService.Reserve.
    "/warehouse.v1.PickingService/PlanWave": WriteIf(
        lambda request: bool(request.reserve), "reserve is set"
    ),
    # AllocationService
    "/warehouse.v1.AllocationService/Allocate": Role.READ,
}

#: Services every caller may use without credentials.
OPEN_SERVICES: Final = frozenset(
    {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    }
)

_ROLE_NAMES: Final = {"read": Role.READ, "write": Role.WRITE}
#: Tokens shorter than this get a warning at start.
MIN_TOKEN_LENGTH: Final = 16


def fingerprint(token: str) -> str:
    """A short, non-reversible name of ``token`` for logs: 8 hex digits of its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()[:8]


def _setting(name: str) -> str:
    return f"{name} ({env_name(name)})"


def _read(name: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SecurityConfigError(
            f"{_setting(name)}: cannot read {str(path)!r}: {exc.strerror or exc}"
        ) from None


def _entries(text: str) -> Iterator[tuple[int, str]]:
    """``(line number, entry)`` of comma- or line-separated entries; ``#`` starts a comment."""
    for number, line in enumerate(text.splitlines(), start=1):
        for entry in line.split("#", 1)[0].split(","):
            if entry.strip():
                yield number, entry.strip()


def _role_entry(entry: str, where: str, what: str) -> tuple[Role, str]:
    """Parse ``role:value``; the error names ``where`` but never echoes the value."""
    name, sep, value = entry.partition(":")
    role = _ROLE_NAMES.get(name.strip().lower())
    value = value.strip()
    if not sep or role is None or not value or any(c.isspace() for c in value):
        raise SecurityConfigError(f"{where}: expected 'read:<{what}>' or 'write:<{what}>'")
    return role, value


@dataclass(frozen=True)
class Caller:
    """Who made a call, as it may be logged: the role and a fingerprint or certificate name."""

    role: Role
    who: str


class AuthPolicy:
    """Token digests and client identities with their roles.

    ``enabled`` is False when neither is configured: then every call is allowed.
    """

    def __init__(
        self,
        tokens: Mapping[str, Role] | None = None,
        identities: Mapping[str, Role] | None = None,
    ) -> None:
        self._digests: list[tuple[bytes, Role, str]] = [
            (hashlib.sha256(t.encode()).digest(), role, fingerprint(t))
            for t, role in (tokens or {}).items()
        ]
        self._identities = dict(identities or {})

    @property
    def enabled(self) -> bool:
        return bool(self._digests or self._identities)

    @property
    def has_identities(self) -> bool:
        return bool(self._identities)

    @classmethod
    def from_settings(cls, settings: Settings) -> AuthPolicy:
        """The policy of ``auth_tokens``, ``auth_tokens_file`` and ``auth_client_identities``."""
        sources: list[tuple[str, str, bool]] = []  # (where, text, with line numbers)
        if settings.auth_tokens:
            sources.append((_setting("auth_tokens"), settings.auth_tokens, False))
        if settings.auth_tokens_file is not None:
            path = settings.auth_tokens_file
            raw = _read("auth_tokens_file", path)
            try:
                text = raw.decode()
            except UnicodeDecodeError:
                raise SecurityConfigError(
                    f"{_setting('auth_tokens_file')}: {str(path)!r} is not UTF-8 text"
                ) from None
            sources.append((f"{_setting('auth_tokens_file')} {str(path)!r}", text, True))
        tokens: dict[str, Role] = {}
        for source, text, numbered in sources:
            for line, entry in _entries(text):
                where = f"{source}, line {line}" if numbered else source
                role, token = _role_entry(entry, where, "token")
                if tokens.get(token, role) != role:
                    raise SecurityConfigError(
                        f"{where}: token {fingerprint(token)} is given two different roles"
                    )
                tokens[token] = role
        identities: dict[str, Role] = {}
        where = _setting("auth_client_identities")
        for _, entry in _entries(settings.auth_client_identities):
            role, identity = _role_entry(entry, where, "certificate CN or SAN")
            identities[identity] = max(role, identities.get(identity, role))
        policy = cls(tokens, identities)
        for token, role in tokens.items():
            if len(token) < MIN_TOKEN_LENGTH:
                log.warning(
                    "bearer token %s (%s) is shorter than %d characters: use a random one",
                    fingerprint(token),
                    role.name.lower(),
                    MIN_TOKEN_LENGTH,
                )
        if policy.enabled:
            log.info(
                "authorization on: %d bearer token(s) [%s], %d client identit(y/ies) [%s]",
                len(tokens),
                ", ".join(f"{role.name.lower()} {fingerprint(t)}" for t, role in tokens.items()),
                len(identities),
                ", ".join(f"{role.name.lower()} {i!r}" for i, role in identities.items()),
            )
        return policy

    def token_role(self, token: str) -> Caller | None:
        """The caller presenting ``token``, or None; compares every digest in constant time."""
        digest = hashlib.sha256(token.encode()).digest()
        found: Caller | None = None
        for stored, role, name in self._digests:  # no early exit: same work for any token
            if hmac.compare_digest(stored, digest):
                found = Caller(role, f"token {name}")
        return found

    def identity_role(self, names: list[str]) -> Caller | None:
        """The highest role of any of a client certificate's ``names`` (CN and SANs), or None."""
        found = [(self._identities[n], n) for n in names if n in self._identities]
        if not found:
            return None
        role, name = max(found)
        return Caller(role, f"certificate {name!r}")


def _certificate_names(context: grpc.ServicerContext) -> list[str]:
    """The verified client certificate's subject CN and SANs (empty without mTLS)."""
    auth: Mapping[str, Any] = context.auth_context()  # the stubs say bytes: lists of bytes
    names: list[str] = []
    for key in ("x509_common_name", "x509_subject_alternative_name"):
        names.extend(value.decode(errors="replace") for value in auth.get(key, ()))
    return names


def _deny(context: grpc.ServicerContext, code: grpc.StatusCode, message: str) -> NoReturn:
    context.abort(code, message)
    raise AssertionError("context.abort returned")  # pragma: no cover


class AuthInterceptor(MethodInterceptor):
    """Authenticates every call outside :data:`OPEN_SERVICES` and checks its role.

    No credentials, or a wrong token: UNAUTHENTICATED. A role below what the method needs, or a
    method missing from :data:`METHOD_ROLES`: PERMISSION_DENIED.
    """

    def __init__(self, policy: AuthPolicy) -> None:
        super().__init__()
        self._policy = policy

    def authenticate(self, context: grpc.ServicerContext, method: str) -> Caller:
        """Who is calling, from the bearer token and the client certificate; aborts if nobody."""
        headers = [v for k, v in context.invocation_metadata() if k == "authorization"]
        by_token: Caller | None = None
        if headers:
            scheme, _, token = str(headers[0]).strip().partition(" ")
            token = token.strip()
            if len(headers) > 1 or scheme.lower() != "bearer" or not token:
                log.info("denied %s: malformed authorization metadata", method)
                _deny(
                    context,
                    grpc.StatusCode.UNAUTHENTICATED,
                    "authorization metadata must be one 'Bearer <token>'",
                )
            by_token = self._policy.token_role(token)
            if by_token is None:
                log.info("denied %s: unknown bearer token %s", method, fingerprint(token))
                _deny(context, grpc.StatusCode.UNAUTHENTICATED, "unknown bearer token")
        by_certificate = self._policy.identity_role(_certificate_names(context))
        callers = [c for c in (by_token, by_certificate) if c is not None]
        if not callers:
            log.info("denied %s: no credentials", method)
            _deny(
                context,
                grpc.StatusCode.UNAUTHENTICATED,
                "credentials required: send 'authorization: Bearer <token>' metadata"
                + (" or a known client certificate" if self._policy.has_identities else ""),
            )
        return max(callers, key=lambda c: c.role)

    def check(self, method: str, request: Any, context: grpc.ServicerContext) -> None:
        """Abort the call unless its caller may call ``method`` with ``request``."""
        caller = self.authenticate(context, method)
        requirement = METHOD_ROLES.get(method)
        if requirement is None:
            log.warning("denied %s to %s: method has no permission entry", method, caller.who)
            _deny(context, grpc.StatusCode.PERMISSION_DENIED, f"{method} is not allowed")
        needed = requirement.needed(request) if isinstance(requirement, WriteIf) else requirement
        if caller.role < needed:
            log.info(
                "denied %s to %s: role %s, needs %s",
                method,
                caller.who,
                caller.role.name.lower(),
                needed.name.lower(),
            )
            why = f" when {requirement.why}" if isinstance(requirement, WriteIf) else ""
            _deny(
                context,
                grpc.StatusCode.PERMISSION_DENIED,
                f"{method} needs the {needed.name.lower()} role{why}; "
                f"the caller has {caller.role.name.lower()}",
            )
        log.debug("%s by %s (%s)", method, caller.who, caller.role.name.lower())

    def wrap(self, method: str, handler: Handler) -> Handler:
        if method.lstrip("/").rpartition("/")[0] in OPEN_SERVICES:
            return handler
        requirement = METHOD_ROLES.get(method)
        if isinstance(requirement, WriteIf) and handler.request_streaming:
            raise TypeError(f"{method}: request-dependent roles need a unary request")
        return _checked(handler, lambda request, context: self.check(method, request, context))


def _checked(
    handler: grpc.RpcMethodHandler[Any, Any],
    check: Callable[[Any, grpc.ServicerContext], None],
) -> grpc.RpcMethodHandler[Any, Any]:
    """``handler`` calling ``check(request, context)`` first (request None when streamed)."""
    kwargs = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        uu = handler.unary_unary

        def unary_unary(request: Any, context: grpc.ServicerContext) -> Any:
            check(request, context)
            return uu(request, context)

        return grpc.unary_unary_rpc_method_handler(unary_unary, **kwargs)
    if handler.unary_stream is not None:
        us = handler.unary_stream

        def unary_stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            check(request, context)
            yield from us(request, context)

        return grpc.unary_stream_rpc_method_handler(unary_stream, **kwargs)
    if handler.stream_unary is not None:
        su = handler.stream_unary

        def stream_unary(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
            check(None, context)
            return su(requests, context)

        return grpc.stream_unary_rpc_method_handler(stream_unary, **kwargs)
    ss = handler.stream_stream
    assert ss is not None

    def stream_stream(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
        check(None, context)
        yield from ss(requests, context)

    return grpc.stream_stream_rpc_method_handler(stream_stream, **kwargs)


def _no_password() -> bytes:
    raise SecurityConfigError("encrypted private keys are not supported")


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """TLS credentials of ``tls_cert_file``/``tls_key_file`` (and ``tls_client_ca_file`` for
    mutual TLS, client certificates required), or None for plaintext.

    The files are checked here, so a wrong file fails the start with the setting and path named
    instead of every handshake failing later.
    """
    cert_path, key_path = settings.tls_cert_file, settings.tls_key_file
    if cert_path is None or key_path is None:
        return None
    cert = _read("tls_cert_file", cert_path)
    key = _read("tls_key_file", key_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert_path, key_path, password=_no_password)
    except (ssl.SSLError, SecurityConfigError) as exc:
        reason = getattr(exc, "reason", None) or str(exc)
        raise SecurityConfigError(
            f"{_setting('tls_cert_file')} {str(cert_path)!r} and {_setting('tls_key_file')} "
            f"{str(key_path)!r} are not a PEM certificate (chain) and its matching unencrypted "
            f"private key: {reason}"
        ) from None
    client_ca: bytes | None = None
    if settings.tls_client_ca_file is not None:
        ca_path = settings.tls_client_ca_file
        client_ca = _read("tls_client_ca_file", ca_path)
        try:
            context.load_verify_locations(cafile=ca_path)
        except ssl.SSLError as exc:
            raise SecurityConfigError(
                f"{_setting('tls_client_ca_file')}: {str(ca_path)!r} is not a PEM CA bundle: "
                f"{exc.reason or exc}"
            ) from None
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def is_loopback(listen_address: str) -> bool:
    """Whether ``host:port`` binds only the loopback interface."""
    host = listen_address.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # an empty host or 0.0.0.0-like names bind every interface
        return False


def warn_if_exposed(listen_address: str, *, tls: bool, auth: bool) -> None:
    """Warn (once per server start) about a port other hosts reach without auth or TLS."""
    if is_loopback(listen_address):
        return
    if not auth:
        log.warning(
            "listening on %s without authorization: any client that reaches it can change "
            "layouts and inventory (set %s or %s)",
            listen_address,
            env_name("auth_tokens_file"),
            env_name("auth_client_identities"),
        )
    elif not tls:
        log.warning(
            "listening on %s without TLS: bearer tokens cross the network in clear text (set %s "
            "and %s)",
            listen_address,
            env_name("tls_cert_file"),
            env_name("tls_key_file"),
        )
