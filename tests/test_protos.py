"""The generated warehouse.v1 code is fresh and imports against the installed protobuf."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys

import google.protobuf
import pytest

from tests.conftest import ROOT

MODULES = [
    f"warehouse.v1.{name}{suffix}"
    for name in ("common", "layout", "routing", "inventory", "picking", "allocation")
    for suffix in ("_pb2", "_pb2_grpc")
]


def test_generated_code_is_not_stale() -> None:
    """Regenerating into a temporary directory gives byte-identical files (else: make protos)."""
    # In a subprocess: protoc's bundled C++ protobuf and OR-Tools' own copy abort when both are
    # loaded into one process.
    check = subprocess.run(
        [sys.executable, str(ROOT / "protos" / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    stale = [line for line in check.stderr.splitlines() if line.startswith("stale:")]
    assert check.returncode == 0 and not stale, check.stderr


@pytest.mark.parametrize("module", MODULES)
def test_generated_module_imports(module: str) -> None:
    """Each generated module imports with the installed protobuf and grpcio runtimes."""
    imported = importlib.import_module(module)
    assert imported.__file__ is not None and imported.__file__.startswith(str(ROOT / "protos"))


def test_runtime_is_at_least_the_generator() -> None:
    """The protobuf runtime is not older than the protoc that generated the code."""
    text = (ROOT / "protos" / "warehouse" / "v1" / "routing_pb2.py").read_text()
    line = next(x for x in text.splitlines() if x.startswith("# Protobuf Python Version:"))
    generated = tuple(int(p) for p in line.split(":")[1].strip().split("."))
    runtime = tuple(int(p) for p in google.protobuf.__version__.split(".")[:3])
    assert runtime[0] == generated[0] and runtime >= generated, (runtime, generated)


def test_every_declaration_is_documented() -> None:
    """Every message, enum, value, field, oneof, service and rpc has a comment line above it."""
    declaration = re.compile(
        r"^\s*((message|enum|service|rpc|oneof)\s+\w+"
        r"|(optional\s+|repeated\s+)?[\w.]+\s+\w+\s*=\s*\d+;"
        r"|[A-Z][A-Z0-9_]*\s*=\s*\d+;)"
    )
    missing = []
    for path in sorted((ROOT / "protos" / "warehouse" / "v1").glob("*.proto")):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if declaration.match(line) and not lines[i - 1].strip().startswith("//"):
                missing.append(f"{path.name}:{i + 1}: {line.strip()}")
    assert missing == []
