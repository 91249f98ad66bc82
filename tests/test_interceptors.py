"""The per-method cache of wrapped handlers the server interceptors share."""

from __future__ import annotations

from typing import Any

import grpc

from services.interceptors import Handler, MethodInterceptor


def _handler() -> Handler:
    return grpc.unary_unary_rpc_method_handler(lambda request, context: request)


class _Recording(MethodInterceptor):
    """Wraps every handler in a new one and remembers what it wrapped."""

    def __init__(self) -> None:
        super().__init__()
        self.built: list[tuple[str, Handler]] = []

    def wrap(self, method: str, handler: Handler) -> Handler:
        self.built.append((method, handler))
        return _handler()


class _Details:
    def __init__(self, method: str) -> None:
        self.method = method


def _intercept(interceptor: MethodInterceptor, method: str, handler: Handler | None) -> Any:
    return interceptor.intercept_service(lambda details: handler, _Details(method))  # type: ignore[arg-type]


def test_a_method_is_wrapped_once_and_again_only_when_its_handler_changes() -> None:
    interceptor = _Recording()
    first, other = _handler(), _handler()
    wrapped = _intercept(interceptor, "/pkg.S/A", first)
    assert _intercept(interceptor, "/pkg.S/A", first) is wrapped
    assert _intercept(interceptor, "/pkg.S/B", first) is not wrapped  # another method
    assert _intercept(interceptor, "/pkg.S/A", other) is not wrapped  # a new handler
    assert interceptor.built == [("/pkg.S/A", first), ("/pkg.S/B", first), ("/pkg.S/A", other)]


def test_an_unknown_method_is_neither_wrapped_nor_remembered() -> None:
    interceptor = _Recording()
    for i in range(100):
        assert _intercept(interceptor, f"/no.Such/M{i}", None) is None
    assert interceptor.built == []
    assert interceptor._built == {}
