"""The per-method cache of wrapped handlers the server interceptors share."""

from __future__ import annotations

from typing import Any

import grpc

from services.interceptors import Handler, HandlerCache


def _handler() -> Handler:
    return grpc.unary_unary_rpc_method_handler(lambda request, context: request)


def test_a_method_is_wrapped_once_and_again_only_when_its_handler_changes() -> None:
    built: list[tuple[str, Any]] = []

    def build(method: str, handler: Handler) -> Handler:
        built.append((method, handler))
        return _handler()

    cache = HandlerCache(build)
    first, other = _handler(), _handler()
    wrapped = cache.get("/pkg.S/A", first)
    assert cache.get("/pkg.S/A", first) is wrapped
    assert cache.get("/pkg.S/B", first) is not wrapped  # another method, another wrapper
    assert cache.get("/pkg.S/A", other) is not wrapped  # a new handler is wrapped anew
    assert built == [("/pkg.S/A", first), ("/pkg.S/B", first), ("/pkg.S/A", other)]


def test_an_unknown_method_is_neither_wrapped_nor_remembered() -> None:
    built: list[str] = []

    def build(method: str, handler: Handler) -> Handler:
        built.append(method)
        return handler

    cache = HandlerCache(build)
    for i in range(100):
        assert cache.get(f"/no.Such/M{i}", None) is None
    assert built == []
    assert cache._built == {}
