"""Domain exceptions to gRPC status, in one place.

=====================================  ==========================================================
exception                              status
=====================================  ==========================================================
:class:`routing.errors.InvalidInput`   INVALID_ARGUMENT with a ``google.rpc.BadRequest`` naming
                                       every field path
:class:`routing.errors.NotFound`       NOT_FOUND with a ``google.rpc.ResourceInfo``
:class:`Overloaded`                    RESOURCE_EXHAUSTED
:class:`DeadlineExceeded`              DEADLINE_EXCEEDED
:class:`SolverUnavailable`             UNAVAILABLE: the solve had no effect (its worker died, or the
                                       server is stopping), so the caller may retry with backoff
anything else                          INTERNAL, message ``internal error``; the stack trace is
                                       logged here and never sent
=====================================  ==========================================================
"""

from __future__ import annotations

import logging

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from routing.errors import InvalidInput, NotFound

log = logging.getLogger(__name__)


class Overloaded(Exception):
    """The server is already running as many solves as it allows."""


class DeadlineExceeded(Exception):
    """The call's deadline leaves no time to solve."""


class SolverUnavailable(Exception):
    """No solver process could finish the call's solve: the one running it died (killed, out
    of memory, ...), or the server is stopping.

    The solve had no effect (reservations are made after it, in the server process) and a dead
    worker pool is replaced at once, so the failure is transient: UNAVAILABLE tells clients to
    retry with backoff, where INTERNAL would tell them not to.
    """


def _packed(message: error_details_pb2.BadRequest | error_details_pb2.ResourceInfo) -> any_pb2.Any:
    out = any_pb2.Any()
    out.Pack(message)
    return out


def rpc_status(exc: BaseException, method: str = "") -> status_pb2.Status:
    """The ``google.rpc.Status`` for ``exc`` (logs unexpected errors with their trace)."""
    if isinstance(exc, InvalidInput):
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in exc.violations
            ]
        )
        return status_pb2.Status(
            code=code_pb2.INVALID_ARGUMENT, message=str(exc), details=[_packed(bad_request)]
        )
    if isinstance(exc, NotFound):
        info = error_details_pb2.ResourceInfo(
            resource_type=exc.kind, resource_name=exc.name, description=exc.field
        )
        return status_pb2.Status(code=code_pb2.NOT_FOUND, message=str(exc), details=[_packed(info)])
    if isinstance(exc, Overloaded):
        return status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message=str(exc))
    if isinstance(exc, DeadlineExceeded):
        return status_pb2.Status(code=code_pb2.DEADLINE_EXCEEDED, message=str(exc))
    if isinstance(exc, SolverUnavailable):
        return status_pb2.Status(code=code_pb2.UNAVAILABLE, message=str(exc))
    log.error("unexpected error in %s", method or "a call", exc_info=exc)
    return status_pb2.Status(code=code_pb2.INTERNAL, message="internal error")


def grpc_status(exc: BaseException, method: str = "") -> grpc.Status:
    """The ``grpc.Status`` for ``exc``, rich details in the trailing metadata."""
    from grpc_status import rpc_status as rich

    status: grpc.Status = rich.to_status(rpc_status(exc, method))
    return status
