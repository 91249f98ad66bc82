"""The outside world: gRPC servicers, proto <-> domain conversion, layout store, metrics, config
and the server entry point (``python -m services.server``)."""
