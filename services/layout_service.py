"""LayoutService: put, get, list and delete warehouse layouts through the registry."""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2
from warehouse.v1 import layout_pb2, layout_pb2_grpc

from routing.errors import InvalidInput
from services.layouts import LayoutRegistry


class LayoutService(layout_pb2_grpc.LayoutServiceServicer):
    """Serves the layouts of a :class:`LayoutRegistry`."""

    def __init__(self, registry: LayoutRegistry) -> None:
        self._registry = registry

    def PutLayout(  # noqa: N802
        self, request: layout_pb2.PutLayoutRequest, context: grpc.ServicerContext
    ) -> layout_pb2.Layout:
        """Create or replace a layout (validated and compiled first)."""
        if not request.HasField("layout"):
            raise InvalidInput.single("layout", "required")
        return self._registry.put(request.layout, validate_only=request.validate_only)

    def GetLayout(  # noqa: N802
        self, request: layout_pb2.GetLayoutRequest, context: grpc.ServicerContext
    ) -> layout_pb2.Layout:
        """Return one layout (FULL view unless asked otherwise)."""
        view = request.view or layout_pb2.LAYOUT_VIEW_FULL
        return self._registry.get(request.warehouse_id, view)

    def ListLayouts(  # noqa: N802
        self, request: layout_pb2.ListLayoutsRequest, context: grpc.ServicerContext
    ) -> layout_pb2.ListLayoutsResponse:
        """Return one page of layouts ordered by id (BASIC view unless asked otherwise)."""
        view = request.view or layout_pb2.LAYOUT_VIEW_BASIC
        layouts, token = self._registry.list(request.page_size, request.page_token, view)
        return layout_pb2.ListLayoutsResponse(layouts=layouts, next_page_token=token)

    def DeleteLayout(  # noqa: N802
        self, request: layout_pb2.DeleteLayoutRequest, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        """Delete a layout."""
        self._registry.delete(request.warehouse_id)
        return empty_pb2.Empty()
