"""Server interceptors, and the plumbing to wrap a handler's behaviour whatever its arity."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

import grpc

from services.errors import grpc_status

if TYPE_CHECKING:
    ServerInterceptor = grpc.ServerInterceptor[Any, Any]
    Handler = grpc.RpcMethodHandler[Any, Any]
else:  # generic only in the type stubs
    ServerInterceptor = grpc.ServerInterceptor
    Handler = grpc.RpcMethodHandler

#: ``guard(context)`` is entered around one call (the whole response stream for streaming calls).
Guard = Callable[[grpc.ServicerContext], AbstractContextManager[None]]


def _nothing() -> None:
    return None


def wrap_handler(
    handler: Handler,
    guard: Guard,
    on_request: Callable[[], None] = _nothing,
    on_response: Callable[[], None] = _nothing,
) -> Handler:
    """A handler running ``handler``'s behaviour inside ``guard(context)``.

    ``on_request``/``on_response`` are called once per message received/sent.
    """

    def counted_requests(requests: Iterator[Any]) -> Iterator[Any]:
        for request in requests:
            on_request()
            yield request

    kwargs = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        uu = handler.unary_unary

        def unary_unary(request: Any, context: grpc.ServicerContext) -> Any:
            on_request()
            with guard(context):
                response = uu(request, context)
            on_response()
            return response

        return grpc.unary_unary_rpc_method_handler(unary_unary, **kwargs)
    if handler.unary_stream is not None:
        us = handler.unary_stream

        def unary_stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            on_request()
            with guard(context):
                for response in us(request, context):
                    on_response()
                    yield response

        return grpc.unary_stream_rpc_method_handler(unary_stream, **kwargs)
    if handler.stream_unary is not None:
        su = handler.stream_unary

        def stream_unary(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
            with guard(context):
                response = su(counted_requests(requests), context)
            on_response()
            return response

        return grpc.stream_unary_rpc_method_handler(stream_unary, **kwargs)
    ss = handler.stream_stream
    assert ss is not None

    def stream_stream(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
        with guard(context):
            for response in ss(counted_requests(requests), context):
                on_response()
                yield response

    return grpc.stream_stream_rpc_method_handler(stream_stream, **kwargs)


class MethodInterceptor(ServerInterceptor):
    """An interceptor that wraps each method's handler once, not on every call.

    gRPC asks every interceptor for a handler on every call; building the wrapper each time
    (closures, context-manager factories, metric label lookups) cost about a tenth of the
    serving process's time under load. :meth:`wrap` runs again only when the handler gRPC
    resolves for a method changes. Only registered methods are remembered (an unknown method
    resolves to no handler), so the cache stays as small as the API.
    """

    def __init__(self) -> None:
        self._built: dict[str, tuple[Handler, Handler]] = {}

    def wrap(self, method: str, handler: Handler) -> Handler:
        """``handler`` of ``method`` (``/package.Service/Method``) with this interceptor's work."""
        raise NotImplementedError

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Handler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method: str = handler_call_details.method
        hit = self._built.get(method)
        if hit is not None and hit[0] is handler:
            return hit[1]
        wrapped = self.wrap(method, handler)
        self._built[method] = (handler, wrapped)  # a race builds twice: both are equivalent
        return wrapped


def status_code(context: grpc.ServicerContext) -> grpc.StatusCode | None:
    """The code a servicer set on ``context`` (by ``abort`` or ``set_code``), or None."""
    code: grpc.StatusCode | None = context.code()  # type: ignore[attr-defined]
    return code


def _aborted(context: grpc.ServicerContext) -> bool:
    """True when the servicer called ``context.abort`` itself: its status must stand."""
    code = status_code(context)
    return code is not None and code != grpc.StatusCode.OK


class ErrorInterceptor(MethodInterceptor):
    """Turns every exception a servicer raises into its status (see :mod:`services.errors`)."""

    def wrap(self, method: str, handler: Handler) -> Handler:
        @contextmanager
        def guard(context: grpc.ServicerContext) -> Iterator[None]:
            try:
                yield
            except Exception as exc:
                if _aborted(context):
                    raise
                context.abort_with_status(grpc_status(exc, method))

        return wrap_handler(handler, guard)
