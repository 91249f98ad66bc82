"""Run a replan: allocation, then picking per warehouse and wave, with a checkpoint.

:func:`replan` runs the two stages of :mod:`services.replan.tasks` on an engine and writes the
plans, the summary and the report into the output directory. Every finished task is written
at once to ``checkpoint/`` (atomically, under a hash of its request), so a run that is
interrupted (Ctrl-C, SIGKILL, a lost node) and started again with the same inputs redoes only
what had not finished, and ends with exactly the plans of an uninterrupted run. The plans are
written only from the checkpoint, in a fixed order.

Picking starts only when every allocation region (and the repair after them) has succeeded:
the waves are cut from the whole day's allocation, so waves cut from part of it would differ
from a complete run's.
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import hashlib
import io
import json
import os
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warehouse.v1 import allocation_pb2, picking_pb2

from allocation.model import Policy
from services.replan.day import Day
from services.replan.engines import Engine, TaskFailed
from services.replan.progress import Progress
from services.replan.tasks import (
    Task,
    allocation_records,
    allocation_tasks,
    merge_repair,
    repair_task,
    wave_record,
    wave_tasks,
)

#: Format of the checkpoint directory; a different one is never resumed.
CHECKPOINT_FORMAT = 1


class CheckpointMismatch(ValueError):
    """The output directory holds a checkpoint of other inputs."""


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader (or a crash) sees the old file or the new
    one, never part of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


class Checkpoint:
    """Finished tasks' records under ``directory``, for inputs with ``fingerprint``."""

    def __init__(self, directory: Path, fingerprint: str, *, fresh: bool = False) -> None:
        self.directory = directory
        manifest = directory / "manifest.json"
        if fresh and directory.exists():
            shutil.rmtree(directory)
        if manifest.exists():
            saved = json.loads(manifest.read_text())
            if saved != {"format": CHECKPOINT_FORMAT, "fingerprint": fingerprint}:
                raise CheckpointMismatch(
                    f"{directory} holds a checkpoint of other inputs or settings; "
                    "rerun with --fresh to start over, or choose another --out"
                )
        else:
            write_atomic(
                manifest,
                json.dumps({"format": CHECKPOINT_FORMAT, "fingerprint": fingerprint}).encode(),
            )

    def _path(self, task: Task) -> Path:
        return self.directory / (task.id.replace("/", "_") + ".json")

    def load(self, task: Task) -> dict[str, Any] | None:
        """The record of ``task`` if it finished with this very request, else None."""
        path = self._path(task)
        if not path.exists():
            return None
        saved = json.loads(path.read_text())
        if saved.get("request_sha256") != _sha(task.request):
            return None
        record: dict[str, Any] = saved["record"]
        return record

    def save(self, task: Task, record: Mapping[str, Any]) -> None:
        """Keep ``task``'s record (atomically)."""
        data = {"task": task.id, "request_sha256": _sha(task.request), "record": record}
        write_atomic(self._path(task), json.dumps(data, sort_keys=True).encode())


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Outcome:
    """What a run did: ``failures`` lists ``(task id, reason)``; empty means complete."""

    out: Path
    summary: dict[str, Any]
    failures: list[tuple[str, str]] = field(default_factory=list)
    solved: int = 0
    resumed: int = 0
    #: Wall-clock seconds per stage (``allocation``, ``picking``).
    stage_s: dict[str, float] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Whether every task succeeded."""
        return not self.failures


def _record(task: Task, data: bytes) -> dict[str, Any]:
    """The plain record of a task's serialised response."""
    if task.kind == "allocate":
        # Regions are allocate/r000, ...; the repair after them counts as region -1.
        region = int(task.id.rsplit("/r", 1)[1]) if "/r0" in task.id else -1
        return allocation_records(allocation_pb2.AllocateResponse.FromString(data), region)
    request = picking_pb2.PlanWaveRequest.FromString(task.request)
    return wave_record(request, picking_pb2.PlanWaveResponse.FromString(data))


def run_stage(
    stage: str,
    tasks: Sequence[Task],
    engine: Engine,
    checkpoint: Checkpoint,
    progress: Progress,
    outcome: Outcome,
) -> dict[str, dict[str, Any]]:
    """Run ``tasks`` not already in the checkpoint; return every finished task's record."""
    started = time.monotonic()
    records: dict[str, dict[str, Any]] = {}
    todo = []
    for task in tasks:
        saved = checkpoint.load(task)
        if saved is None:
            todo.append(task)
        else:
            records[task.id] = saved
    outcome.resumed += len(records)
    progress.start(stage, len(tasks), resumed=len(records))
    futures = {engine.submit(task): task for task in todo}
    try:
        for future in cf.as_completed(futures):
            task = futures[future]
            try:
                record = _record(task, future.result())
            except (TaskFailed, cf.process.BrokenProcessPool) as exc:
                outcome.failures.append((task.id, str(exc) or type(exc).__name__))
                progress.advance(ok=False)
                continue
            checkpoint.save(task, record)
            records[task.id] = record
            outcome.solved += 1
            progress.advance()
    finally:
        for future in futures:
            future.cancel()
    progress.finish()
    outcome.stage_s[stage] = time.monotonic() - started
    return records


def replan(
    day: Day,
    engine: Engine,
    out: Path,
    progress: Progress,
    *,
    fresh: bool = False,
    floors: Mapping[str, Any] | None = None,
) -> Outcome:
    """Replan ``day`` on ``engine`` into ``out``; see the module docstring.

    ``floors`` (warehouse id -> :class:`services.replan.report.Floor`) draws the report's maps;
    by default they are built from the day's layouts.

    Raises
    ------
    CheckpointMismatch
        ``out`` holds a checkpoint of other inputs (and ``fresh`` is not set).
    """
    started = time.monotonic()
    checkpoint = Checkpoint(out / "checkpoint", day.fingerprint, fresh=fresh)
    outcome = Outcome(out, {})
    tasks = allocation_tasks(day)
    allocated = run_stage("allocation", tasks, engine, checkpoint, progress, outcome)
    regions = [allocated[t.id] for t in tasks if t.id in allocated]
    repaired: dict[str, dict[str, Any]] = {}
    repair = repair_task(day, regions) if len(regions) == len(tasks) else None
    if repair is not None:
        repaired = run_stage("repair", [repair], engine, checkpoint, progress, outcome)
    orders = merge_repair(regions, repaired.get(repair.id) if repair else None)
    waves: dict[str, dict[str, Any]] = {}
    if not outcome.failures:
        waves = run_stage("picking", wave_tasks(day, orders), engine, checkpoint, progress, outcome)
    write_plans(out, orders, waves.values())
    outcome.summary = summarize(day, engine.name, regions, orders, waves.values(), outcome.failures)
    outcome.summary["elapsed_s"] = round(time.monotonic() - started, 3)
    write_atomic(out / "summary.json", json.dumps(outcome.summary, indent=2).encode())
    _write_report(day, out, floors)
    return outcome


# -- outputs --------------------------------------------------------------------------------


def _jsonl(records: Iterable[Mapping[str, Any]]) -> bytes:
    return b"".join(json.dumps(r, sort_keys=True).encode() + b"\n" for r in records)


def _csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue().encode()


def write_plans(
    out: Path,
    allocated: Iterable[Mapping[str, Any]],
    waves: Iterable[Mapping[str, Any]],
) -> None:
    """Write ``plans/``: allocation (one record per order) and waves as JSON Lines,
    shipments, unallocated lines and picks as CSV, each in a fixed order."""
    orders = sorted(allocated, key=lambda o: o["order_id"])
    ordered_waves = sorted(waves, key=lambda w: (w["warehouse_id"], w["index"]))
    plans = out / "plans"
    write_atomic(plans / "allocation.jsonl", _jsonl(orders))
    write_atomic(plans / "waves.jsonl", _jsonl(ordered_waves))
    write_atomic(
        plans / "shipments.csv",
        _csv(
            (
                "order_id",
                "package",
                "fc",
                "carrier",
                "service",
                "zone",
                "billable_weight",
                "weight_unit",
                "cost",
                "ship_date",
                "expected_delivery_date",
                "delivery_days",
                "line_index",
                "sku",
                "quantity",
            ),
            (
                (
                    o["order_id"],
                    k,
                    s["fc"],
                    s["carrier"],
                    s["service"],
                    s["zone"],
                    s["billable_weight"],
                    s["weight_unit"],
                    s["cost"],
                    s["ship_date"],
                    s["expected_delivery_date"],
                    s["delivery_days"],
                    x["line_index"],
                    x["sku"],
                    x["quantity"],
                )
                for o in orders
                for k, s in enumerate(o["shipments"])
                for x in s["lines"]
            ),
        ),
    )
    write_atomic(
        plans / "unallocated.csv",
        _csv(
            ("order_id", "line_index", "sku", "quantity", "reason", "message"),
            (
                (o["order_id"], u["line_index"], u["sku"], u["quantity"], u["reason"], u["message"])
                for o in orders
                for u in o["unfilled"]
            ),
        ),
    )
    write_atomic(
        plans / "picks.csv",
        _csv(
            (
                "wave_id",
                "warehouse_id",
                "batch",
                "stop",
                "order_id",
                "line_index",
                "sku",
                "bin_id",
                "quantity",
                "tote",
                "cumulative_distance_m",
            ),
            (
                (
                    w["wave_id"],
                    w["warehouse_id"],
                    b["index"],
                    k,
                    p["order_id"],
                    p["line_index"],
                    p["sku"],
                    p["bin_id"],
                    p["quantity"],
                    p["tote"],
                    p["cumulative_distance_m"],
                )
                for w in ordered_waves
                for b in w["batches"]
                for k, p in enumerate(b["picks"])
            ),
        ),
    )


def summarize(
    day: Day,
    engine: str,
    regions: Sequence[Mapping[str, Any]],
    orders: Sequence[Mapping[str, Any]],
    waves: Iterable[Mapping[str, Any]],
    failures: Sequence[tuple[str, str]],
) -> dict[str, Any]:
    """The ``summary.json`` of a run (see docs/replan.md).

    Totals are added up from the orders' records (repairs included); the baseline is the
    regions' own. The bound is the solver's when the day was one region; with several it is
    not a bound on the day (the regions' shares restrict it), so none is reported.
    """
    priority = {o.id: o.priority for o in day.orders}
    per_line = (
        day.policy.unfilled_line_penalty.minor_units
        if day.policy.HasField("unfilled_line_penalty")
        else Policy().unfilled_line_penalty
    )
    shipping = sum(s["cost"] for o in orders for s in o["shipments"])
    penalty = sum(
        per_line * (1 + priority.get(o["order_id"], 0)) for o in orders for _ in o["unfilled"]
    )
    objective = shipping + penalty
    baseline = {
        k: sum(int(r["baseline"][k]) for r in regions)
        for k in ("shipping_cost", "penalty", "objective", "packages", "unfilled_lines")
    }
    bound = int(regions[0]["bound"]) if len(regions) == 1 else None
    by_fc: dict[str, dict[str, int]] = {}
    by_service: dict[str, dict[str, int]] = {}
    by_reason: dict[str, int] = {}
    for o in orders:
        for s in o["shipments"]:
            for key, table in ((s["fc"], by_fc), (f"{s['carrier']} {s['service']}", by_service)):
                row = table.setdefault(key, {"packages": 0, "cost": 0})
                row["packages"] += 1
                row["cost"] += s["cost"]
        for u in o["unfilled"]:
            by_reason[u["reason"]] = by_reason.get(u["reason"], 0) + 1
    wave_list = list(waves)
    by_warehouse: dict[str, dict[str, Any]] = {}
    for w in wave_list:
        row = by_warehouse.setdefault(
            w["warehouse_id"],
            {"waves": 0, "batches": 0, "orders": 0, "distance_m": 0.0, "baseline_distance_m": 0.0},
        )
        row["waves"] += 1
        row["batches"] += len(w["batches"])
        row["orders"] += len(w["order_ids"])
        row["distance_m"] = round(row["distance_m"] + w["distance_m"], 3)
        row["baseline_distance_m"] = round(row["baseline_distance_m"] + w["baseline_distance_m"], 3)
    distance = round(sum(w["distance_m"] for w in wave_list), 3)
    base_distance = round(sum(w["baseline_distance_m"] for w in wave_list), 3)
    currency = next((r["currency"] for r in regions if r["currency"]), day.network.currency_code)
    return {
        "name": day.name,
        "plan_date": day.plan_date.isoformat(),
        "engine": engine,
        "seed": day.seed,
        "currency": currency,
        "allocation": {
            "orders": len(day.orders),
            "orders_planned": len(orders),
            "orders_complete": sum(1 for o in orders if not o["unfilled"]),
            "orders_repaired": sum(1 for o in orders if o.get("repaired")),
            "regions": len(regions),
            "packages": sum(len(o["shipments"]) for o in orders),
            "shipping_cost": shipping,
            "penalty": penalty,
            "objective": objective,
            "bound": bound,
            "gap": (objective - bound) / objective if bound is not None and objective else None,
            "unfilled_lines": sum(len(o["unfilled"]) for o in orders),
            "savings": baseline["objective"] - objective,
            "saving_ratio": 1 - objective / baseline["objective"] if baseline["objective"] else 0.0,
            "baseline": baseline,
            "unfilled_by_reason": dict(sorted(by_reason.items())),
            "cost_by_fc": dict(sorted(by_fc.items())),
            "cost_by_service": dict(sorted(by_service.items())),
        },
        "picking": {
            "waves": len(wave_list),
            "batches": sum(len(w["batches"]) for w in wave_list),
            "distance_m": distance,
            "baseline_distance_m": base_distance,
            "saving_ratio": 1 - distance / base_distance if base_distance else 0.0,
            "unserved_lines": sum(len(w["unserved"]) for w in wave_list),
            "not_picked": sorted(
                {s["fc"] for o in orders for s in o["shipments"]} - set(day.layouts)
            ),
            "by_warehouse": dict(sorted(by_warehouse.items())),
        },
        "failures": [{"task": t, "error": e} for t, e in failures],
    }


def _write_report(day: Day, out: Path, floors: Mapping[str, Any] | None) -> None:
    from services.layouts import compile_layout
    from services.replan import report

    if floors is None:
        floors = {w: report.floor_of(compile_layout(m)) for w, m in day.layouts.items()}
    write_atomic(
        out / "floors.json",
        json.dumps({w: f.to_json() for w, f in sorted(floors.items())}).encode(),
    )
    report.write_report(out)
