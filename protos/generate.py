"""Generate the Python code (messages, gRPC stubs and mypy stubs) for ``protos/warehouse/v1``.

Usage::

    python protos/generate.py           # regenerate in place
    python protos/generate.py --check   # exit 1 if the checked-in code is stale

The generated modules sit next to their ``.proto`` sources, so ``protos/`` is the import root of
the ``warehouse.v1`` package. This is the only way generated code is produced; the
``test_protos`` test fails when it is stale.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent
PACKAGE_DIR = PROTO_ROOT / "warehouse" / "v1"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")
INIT_FILES = {
    Path(
        "warehouse/__init__.py"
    ): '"""Generated protocol buffer packages of the warehouse API."""\n',
    Path(
        "warehouse/v1/__init__.py"
    ): '"""Generated code for package warehouse.v1 (see *.proto)."""\n',
}


def _include_dirs() -> list[str]:
    import google.rpc.status_pb2
    import grpc_tools  # type: ignore[import-untyped]

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    # google/rpc/*.proto ship with googleapis-common-protos next to their generated modules.
    googleapis = Path(google.rpc.status_pb2.__file__).parent.parent.parent
    return [str(PROTO_ROOT), str(well_known), str(googleapis)]


def _plugin(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} not found: install the dev extras (mypy-protobuf)")
    return found


def generate(out_dir: Path) -> list[Path]:
    """Generate every module into ``out_dir`` (the import root); return their relative paths."""
    from grpc_tools import protoc

    sources = sorted(p.relative_to(PROTO_ROOT).as_posix() for p in PACKAGE_DIR.glob("*.proto"))
    args = [
        "grpc_tools.protoc",
        *(f"-I{d}" for d in _include_dirs()),
        f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
        f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for path, text in INIT_FILES.items():
        (out_dir / path).parent.mkdir(parents=True, exist_ok=True)
        (out_dir / path).write_text(text)
    return sorted(p.relative_to(out_dir) for p in out_dir.rglob("*.py*") if p.is_file())


def checked_in() -> list[Path]:
    """Relative paths of the generated files currently in the tree."""
    found = [p for p in PACKAGE_DIR.iterdir() if p.name.endswith(GENERATED_SUFFIXES)]
    return sorted([*(p.relative_to(PROTO_ROOT) for p in found), *INIT_FILES])


def stale_files() -> list[str]:
    """Generated files that differ from a fresh generation, are missing, or are left over."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        problems = [
            str(rel)
            for rel in fresh
            if not (PROTO_ROOT / rel).is_file()
            or not filecmp.cmp(Path(tmp) / rel, PROTO_ROOT / rel, shallow=False)
        ]
        problems += [f"{rel} (not generated any more)" for rel in checked_in() if rel not in fresh]
    return problems


def main(argv: list[str] | None = None) -> int:
    """Regenerate, or with ``--check`` report stale generated files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail if the generated code is stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for name in stale:
            print(f"stale: {name}", file=sys.stderr)
        if stale:
            print("run `make protos` (python protos/generate.py)", file=sys.stderr)
        return 1 if stale else 0
    for path in checked_in():
        if path not in INIT_FILES:
            (PROTO_ROOT / path).unlink()
    written = generate(PROTO_ROOT)
    print(f"generated {len(written)} files under {PROTO_ROOT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
