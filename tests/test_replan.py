"""Batch replanning end to end: a generated day through both engines, checkpoints, failures.

The day is small (a few hundred orders, three warehouses, short waves with a small iteration
budget) so the whole file runs in well under a minute; the 20,000-order day is in
benchmarks/replan_bench.py.
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from warehouse.v1 import allocation_pb2

from services import cli
from services.replan import job, tasks
from services.replan.day import Day, DayError, load_day
from services.replan.engines import (
    Connection,
    LocalEngine,
    RemoteEngine,
    RetryPolicy,
    TaskFailed,
)
from services.replan.progress import Progress
from services.replan.sample import write_sample_day
from tests.conftest import ROOT, StartServer

if TYPE_CHECKING:
    from services.server import WarehouseServer

PLAN_FILES = (
    "plans/allocation.jsonl",
    "plans/waves.jsonl",
    "plans/shipments.csv",
    "plans/unallocated.csv",
    "plans/picks.csv",
)


def small_day(directory: Path, *, orders: int = 240, fmt: str = "csv", seed: int = 5) -> Path:
    """A generated day made quick to plan: two allocation regions, short waves."""
    manifest = write_sample_day(
        directory, orders=orders, warehouses=3, seed=seed, orders_format=fmt, skus=400
    )
    spec = yaml.safe_load(manifest.read_text())
    spec["allocation"] = {"orders_per_region": orders // 2 + 1, "time_limit_s": 60}
    spec["picking"] = {**spec["picking"], "orders_per_wave": 16, "max_iterations": 3}
    manifest.write_text(yaml.safe_dump(spec))
    return manifest


@pytest.fixture(scope="module")
def day_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_day(tmp_path_factory.mktemp("day"))


@pytest.fixture(scope="module")
def day(day_file: Path) -> Day:
    return load_day(day_file)


@pytest.fixture(scope="module")
def local_run(day_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The day replanned once by the in-process engine through the CLI."""
    out = tmp_path_factory.mktemp("local")
    code = cli.main(["replan", str(day_file), "--out", str(out), "--workers", "2"])
    assert code == cli.OK
    return out


def quiet() -> Progress:
    """Progress written nowhere."""
    return Progress(io.StringIO())


def plans(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in PLAN_FILES}


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# -- splitting ------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(0, 60), min_size=1, max_size=6),
    st.lists(st.integers(0, 40), min_size=1, max_size=7),
)
def test_apportion_shares_every_unit_and_covers_every_demand_it_can(
    units: list[int], demands: list[int]
) -> None:
    shares = tasks.apportion(units, demands)
    assert len(shares) == len(demands)
    assert all(q >= 0 for row in shares for q in row)
    given_out = [sum(row[h] for row in shares) for h in range(len(units))]
    if sum(demands):
        assert given_out == units  # nothing lost, nothing invented
        if sum(units) >= sum(demands):
            assert all(sum(row) >= d for row, d in zip(shares, demands, strict=True))
        # A party without demand gets nothing.
        assert all(sum(row) == 0 for row, d in zip(shares, demands, strict=True) if d == 0)
    else:
        assert given_out == [0] * len(units)


def test_regions_and_their_shares_never_exceed_the_day(day: Day) -> None:
    requests = [
        allocation_pb2.AllocateRequest.FromString(t.request) for t in tasks.allocation_tasks(day)
    ]
    assert len(requests) == 2
    ids = [o.id for r in requests for o in r.orders]
    assert sorted(ids) == sorted(o.id for o in day.orders)  # every order in one region
    for fc in day.network.fcs:
        held = day.fc_stock(fc.id)
        shared: Counter[str] = Counter()
        for r in requests:
            for line in r.stock[fc.id].lines:
                shared[line.sku] += line.on_hand
        assert all(shared[s] <= held.get(s, 0) for s in shared)
        caps = [next(f for f in r.network.fcs if f.id == fc.id) for r in requests]
        if fc.capacity_packages:
            assert sum(c.capacity_packages for c in caps) == fc.capacity_packages


# -- the day's files ------------------------------------------------------------------------


def test_orders_read_the_same_from_csv_json_lines_and_parquet(tmp_path: Path) -> None:
    days = [
        load_day(small_day(tmp_path / fmt, orders=60, fmt=fmt))
        for fmt in ("csv", "jsonl", "parquet")
    ]
    assert days[0].orders == days[1].orders == days[2].orders
    assert any(o.promise_days is not None for o in days[0].orders)
    assert {o.residential for o in days[0].orders} <= {True, False, None}


def test_bad_files_name_the_file_row_and_column_and_plan_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = small_day(tmp_path / "day", orders=40)
    orders = (tmp_path / "day" / "orders.csv").read_text().splitlines()
    header = orders[0].split(",")
    row = orders[1].split(",")
    row[header.index("quantity")] = "two"
    row[header.index("sku")] = "NO-SUCH-SKU"
    orders[1] = ",".join(row)
    (tmp_path / "day" / "orders.csv").write_text("\n".join(orders) + "\n")
    with (tmp_path / "day" / "stock.csv").open("a") as f:
        f.write("ABE1,Z99-B9-999L,SKU00001,4\nNOWHERE,,SKU00001,1\n")
    out = tmp_path / "out"
    code = cli.main(["replan", str(manifest), "--out", str(out)])
    assert code == cli.USAGE
    err = capsys.readouterr().err
    assert "orders.csv:2: quantity: 'two' is not a whole number" in err
    assert "orders.csv:2: sku: 'NO-SUCH-SKU' is not in the SKU file" in err
    assert "bin_id: 'Z99-B9-999L' is not a bin of layout 'ABE1'" in err
    assert "warehouse_id: 'NOWHERE' is not an FC of the network" in err
    assert not out.exists()


def test_rate_cards_come_from_their_csv_and_bad_rows_are_named(tmp_path: Path) -> None:
    manifest = small_day(tmp_path, orders=30)
    day = load_day(manifest)
    ground = next(s for s in day.network.services if s.id == "GROUND")
    path = tmp_path / "rate_cards.csv"
    rows = list(csv.reader(path.open()))
    first_ground = next(r for r in rows[1:] if r[0] == "GROUND")
    assert list(ground.rate_card.zones) == [int(z) for z in rows[0][2:]]
    assert list(ground.rate_card.prices[0].prices) == [int(p) for p in first_ground[2:]]
    k = rows.index(first_ground)
    rows[k + 1] = [rows[k + 1][0], "7", *rows[k + 1][2:]]  # a gap in the weights
    rows.append(["NO-SUCH-SERVICE", "1", *rows[1][2:]])
    with path.open("w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    with pytest.raises(DayError) as caught:
        load_day(manifest)
    text = str(caught.value)
    assert f"rate_cards.csv:{k + 2}: weight: expected 2 (step 1), got 7" in text
    assert f"rate_cards.csv:{len(rows)}: service: 'NO-SUCH-SERVICE' is not a service" in text


def test_settings_are_checked_by_name(tmp_path: Path) -> None:
    manifest = small_day(tmp_path, orders=30)
    spec = yaml.safe_load(manifest.read_text())
    spec["picking"]["orders_per_wav"] = 10
    spec["allocation"]["time_limit_s"] = -1
    manifest.write_text(yaml.safe_dump(spec))
    with pytest.raises(DayError) as caught:
        load_day(manifest)
    text = str(caught.value)
    assert "picking.orders_per_wav: unknown setting" in text
    assert "allocation.time_limit_s: must be a positive number, got -1" in text


def test_an_order_whose_lines_disagree_is_reported(tmp_path: Path) -> None:
    manifest = small_day(tmp_path, orders=30)
    path = tmp_path / "orders.csv"
    rows = list(csv.DictReader(path.open()))
    first = rows[0]["order_id"]
    rows.append({**rows[0], "postal_code": "99501"})
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(DayError, match=r"postal_code: '99501' differs from") as caught:
        load_day(manifest)
    assert first in str(caught.value) or "orders.csv:" in str(caught.value)


# -- a whole day, in process ----------------------------------------------------------------


def test_the_plans_keep_stock_capacity_and_serve_every_allocated_line_once(
    day: Day, local_run: Path
) -> None:
    limit = day.policy.max_packages_per_order
    allocated = jsonl(local_run / "plans/allocation.jsonl")
    assert sorted(o["order_id"] for o in allocated) == sorted(o.id for o in day.orders)
    lines = {o.id: o.lines for o in day.orders}
    shipped: Counter[tuple[str, str, str]] = Counter()  # (fc, order, sku) -> units
    packages: Counter[str] = Counter()
    by_service: Counter[tuple[str, str]] = Counter()
    for o in allocated:
        assert not limit or len(o["shipments"]) <= limit
        for s in o["shipments"]:
            packages[s["fc"]] += 1
            by_service[(s["fc"], s["service"])] += 1
            for x in s["lines"]:
                assert lines[o["order_id"]][x["line_index"]][0] == x["sku"]
                shipped[(s["fc"], o["order_id"], x["sku"])] += x["quantity"]
        for u in o["unfilled"]:
            assert u["reason"] in tasks.UNFILLED_REASONS.values()
    for fc in day.network.fcs:
        used: Counter[str] = Counter()
        for (f, _, sku), q in shipped.items():
            if f == fc.id:
                used[sku] += q
        held = day.fc_stock(fc.id)
        assert all(q <= held.get(s, 0) for s, q in used.items()), fc.id
        if fc.capacity_packages:
            assert packages[fc.id] <= fc.capacity_packages
        for service, cap in fc.service_capacity.items():
            assert not cap or by_service[(fc.id, service)] <= cap
    waves = jsonl(local_run / "plans/waves.jsonl")
    picked: Counter[tuple[str, str, str]] = Counter()
    from_bin: Counter[tuple[str, str, str]] = Counter()
    for w in waves:
        assert w["distance_m"] == pytest.approx(sum(b["distance_m"] for b in w["batches"]))
        assert w["distance_m"] <= w["baseline_distance_m"] + 1e-9
        for b in w["batches"]:
            assert b["path"], "every cart's route is drawn"
            for p in b["picks"]:
                picked[(w["warehouse_id"], p["order_id"], p["sku"])] += p["quantity"]
                from_bin[(w["warehouse_id"], p["bin_id"], p["sku"])] += p["quantity"]
        for u in w["unserved"]:
            picked[(w["warehouse_id"], u["order_id"], u["sku"])] += u["quantity"]
    # Every unit allocated to a warehouse is picked (or reported) once, in one wave.
    assert picked == +shipped
    # No bin gives more than the snapshot holds, over all waves together.
    for (warehouse, bin_id, sku), q in from_bin.items():
        assert q <= day.stock[warehouse][sku][bin_id]
    order_waves = Counter(o for w in waves for o in w["order_ids"])
    by_wh = Counter((w["warehouse_id"], o) for w in waves for o in w["order_ids"])
    assert max(by_wh.values()) == 1
    assert order_waves  # there is something to pick


def test_the_repair_pools_what_the_regions_left_for_their_unfilled_lines(
    day: Day, local_run: Path
) -> None:
    regions = [
        json.loads(p.read_text())["record"] for p in local_run.glob("checkpoint/allocate_r0*")
    ]
    assert len(regions) == 2
    before = {o["order_id"]: o for r in regions for o in r["orders"]}
    after = {o["order_id"]: o for o in jsonl(local_run / "plans/allocation.jsonl")}
    repaired = [o for o in after.values() if o.get("repaired")]
    assert repaired, "the small day leaves lines the other region's stock can fill"
    assert sum(len(o["unfilled"]) for o in after.values()) < sum(
        len(o["unfilled"]) for o in before.values()
    )
    for o in repaired:
        was = before[o["order_id"]]
        added = o["shipments"][len(was["shipments"]) :]
        assert o["shipments"][: len(was["shipments"])] == was["shipments"]
        assert len(added) <= 1  # one package more at most
        lines = {x["line_index"] for s in added for x in s["lines"]}
        still = {u["line_index"] for u in o["unfilled"]}
        assert lines | still == {u["line_index"] for u in was["unfilled"]}
        assert not lines & still
        assert o["cost"] == was["cost"] + sum(s["cost"] for s in added)
    summary = json.loads((local_run / "summary.json").read_text())["allocation"]
    assert summary["orders_repaired"] == len(repaired)
    assert summary["bound"] is None  # regions' bounds do not bound the day


def test_leftover_capacity_takes_used_up_fcs_off_their_services(day: Day) -> None:
    network = day.network
    first, second = network.fcs[0].id, network.fcs[1].id
    service = network.services[0].id
    capped = allocation_pb2.Network()
    capped.CopyFrom(network)
    capped.fcs[0].capacity_packages = 10
    capped.fcs[1].service_capacity[service] = 5
    left, usable = tasks._leftover_network(capped, {first: 10}, {}, {(second, service): 5})
    assert first not in usable and second in usable
    offered = next(s for s in left.services if s.id == service)
    assert second not in offered.fcs and first in offered.fcs
    assert service not in left.fcs[1].service_capacity
    left, usable = tasks._leftover_network(capped, {first: 4}, {}, {(second, service): 2})
    assert left.fcs[0].capacity_packages == 6 and left.fcs[1].service_capacity[service] == 3
    assert first in usable


def test_the_summary_adds_up_the_plans(local_run: Path) -> None:
    summary = json.loads((local_run / "summary.json").read_text())
    allocated = jsonl(local_run / "plans/allocation.jsonl")
    waves = jsonl(local_run / "plans/waves.jsonl")
    a, p = summary["allocation"], summary["picking"]
    assert summary["failures"] == []
    assert a["shipping_cost"] + a["penalty"] == a["objective"]
    assert a["objective"] <= a["baseline"]["objective"]
    assert sum(r["cost"] for r in a["cost_by_fc"].values()) == sum(
        s["cost"] for o in allocated for s in o["shipments"]
    )
    assert sum(r["packages"] for r in a["cost_by_service"].values()) == a["packages"]
    assert sum(a["unfilled_by_reason"].values()) == a["unfilled_lines"]
    assert p["waves"] == len(waves)
    assert p["distance_m"] == pytest.approx(sum(w["distance_m"] for w in waves))
    assert 0 < p["saving_ratio"] < 1
    report = (local_run / "report.html").read_text()
    assert summary["name"] in report and 'class="wave-map"' in report


# -- remote engine --------------------------------------------------------------------------


@pytest.fixture
def two_servers(start_server: StartServer, tmp_path: Path) -> list[WarehouseServer]:
    """Two servers on loopback sharing one store, as replicas do."""
    db = tmp_path / "shared.db"
    return [start_server(db_path=db, layouts_dir=None), start_server(db_path=db, layouts_dir=None)]


def handled(server: WarehouseServer, method: str) -> float:
    value = server.metrics.registry.get_sample_value(
        "grpc_server_handled_total",
        {
            "grpc_type": "unary",
            "grpc_service": "warehouse.v1.PickingService",
            "grpc_method": method,
            "grpc_code": "OK",
        },
    )
    return value or 0.0


def test_the_remote_engine_balances_over_the_servers_and_plans_the_same(
    day_file: Path, local_run: Path, two_servers: list[WarehouseServer], tmp_path: Path
) -> None:
    address = "ipv4:" + ",".join(f"127.0.0.1:{s.port}" for s in two_servers)
    out = tmp_path / "remote"
    code = cli.main(
        ["replan", str(day_file), "--out", str(out), "--engine", "remote", "--address", address]
    )
    assert code == cli.OK
    assert plans(out) == plans(local_run)
    remote_summary = json.loads((out / "summary.json").read_text())
    assert remote_summary["engine"] == "remote"
    # Round-robin: both replicas planned waves.
    assert all(handled(s, "PlanWave") > 0 for s in two_servers)


def test_layouts_that_differ_on_the_servers_are_not_replaced_unasked(
    day: Day, start_server: StartServer
) -> None:
    server = start_server(layouts_dir=None)
    engine = RemoteEngine(Connection(f"127.0.0.1:{server.port}"))
    try:
        assert engine.ensure_layouts(day.layouts) == sorted(day.layouts)
        assert engine.ensure_layouts(day.layouts) == []  # the same floors: nothing to do
        changed = {k: type(v)() for k, v in day.layouts.items()}
        for k, v in day.layouts.items():
            changed[k].CopyFrom(v)
            changed[k].rectangular.aisles += 1
        with pytest.raises(TaskFailed, match="differs from the day's"):
            engine.ensure_layouts(changed)
        assert engine.ensure_layouts(changed, replace=True) == sorted(day.layouts)
    finally:
        engine.close()


class _Flaky:
    """A PickingService that answers ``code`` to the first ``failures`` calls."""

    def __init__(self, code: grpc.StatusCode, failures: int) -> None:
        self.code, self.failures, self.calls = code, failures, 0

    def PlanWave(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        from warehouse.v1 import picking_pb2

        self.calls += 1
        if self.calls <= self.failures:
            context.abort(self.code, f"try {self.calls}")
        return picking_pb2.PlanWaveResponse(label=request.options.label, distance_m=1.0)


@pytest.fixture
def flaky() -> Iterator[tuple[_Flaky, str]]:
    from warehouse.v1 import picking_pb2_grpc

    servicer = _Flaky(grpc.StatusCode.UNAVAILABLE, 0)
    server = grpc.server(cf.ThreadPoolExecutor(max_workers=2))
    picking_pb2_grpc.add_PickingServiceServicer_to_server(servicer, server)  # type: ignore[arg-type]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, f"127.0.0.1:{port}"
    server.stop(None)


def _pick_task() -> tasks.Task:
    from warehouse.v1 import common_pb2, picking_pb2

    request = picking_pb2.PlanWaveRequest(
        warehouse_id="X", options=common_pb2.SolveOptions(label="X-W000")
    )
    return tasks.Task("pick/X-W000", "pick", request.SerializeToString(), 10.0)


@pytest.mark.parametrize("code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED])
def test_overload_and_restarts_are_retried_with_jittered_backoff(
    flaky: tuple[_Flaky, str], code: grpc.StatusCode
) -> None:
    servicer, address = flaky
    servicer.code, servicer.failures = code, 3
    pauses: list[float] = []
    policy = RetryPolicy(attempts=5, initial_backoff_s=0.2, max_backoff_s=0.5)
    engine = RemoteEngine(Connection(address), retry=policy, sleep=pauses.append, seed=1)
    try:
        data = engine.submit(_pick_task()).result(timeout=30)
    finally:
        engine.close()
    assert data  # the fourth try answered
    assert servicer.calls == 4 and engine.retries == 3
    caps = [0.2, 0.4, 0.5]
    assert all(0 <= p <= cap for p, cap in zip(pauses, caps, strict=True))
    assert len(set(pauses)) == 3  # jittered, not a fixed schedule


def test_other_errors_fail_at_once_and_retries_end(flaky: tuple[_Flaky, str]) -> None:
    servicer, address = flaky
    servicer.code, servicer.failures = grpc.StatusCode.INVALID_ARGUMENT, 1
    engine = RemoteEngine(Connection(address), sleep=lambda s: None)
    try:
        with pytest.raises(TaskFailed, match="INVALID_ARGUMENT: try 1"):
            engine.submit(_pick_task()).result(timeout=30)
        assert servicer.calls == 1
        servicer.code, servicer.failures, servicer.calls = grpc.StatusCode.UNAVAILABLE, 99, 0
        engine.retry = RetryPolicy(attempts=3)
        with pytest.raises(TaskFailed, match="UNAVAILABLE after 3 tries"):
            engine.submit(_pick_task()).result(timeout=30)
        assert servicer.calls == 3
    finally:
        engine.close()


# -- interruptions and failures -------------------------------------------------------------


class _FailSome:
    """The local engine, except that the tasks in ``failing`` fail."""

    name = "local"

    def __init__(self, inner: LocalEngine, failing: set[str]) -> None:
        self.inner, self.failing = inner, failing

    def submit(self, task: tasks.Task) -> cf.Future[bytes]:
        if task.id in self.failing:
            future: cf.Future[bytes] = cf.Future()
            future.set_exception(TaskFailed("UNAVAILABLE after 6 tries: server gone"))
            return future
        return self.inner.submit(task)

    def close(self) -> None:
        self.inner.close()


def test_failed_waves_are_listed_and_only_they_run_again(
    day: Day, local_run: Path, tmp_path: Path
) -> None:
    waves = [t.id for t in tasks.wave_tasks(day, jsonl(local_run / "plans/allocation.jsonl"))]
    failing = {waves[0], waves[-1]}
    out = tmp_path / "out"
    engine = _FailSome(LocalEngine(day.layouts, 2), failing)
    try:
        first = job.replan(day, engine, out, quiet())
    finally:
        engine.close()
    assert not first.complete
    assert {t for t, _ in first.failures} == failing
    summary = json.loads((out / "summary.json").read_text())
    assert {f["task"] for f in summary["failures"]} == failing
    assert "server gone" in (out / "report.html").read_text()
    engine2 = LocalEngine(day.layouts, 2)
    try:
        second = job.replan(day, engine2, out, quiet())
    finally:
        engine2.close()
    assert second.complete and second.solved == 2
    assert plans(out) == plans(local_run)


def test_a_failed_allocation_region_stops_before_picking(day: Day, tmp_path: Path) -> None:
    engine = _FailSome(LocalEngine(day.layouts, 2), {"allocate/r001"})
    try:
        outcome = job.replan(day, engine, tmp_path, quiet())
    finally:
        engine.close()
    assert [t for t, _ in outcome.failures] == ["allocate/r001"]
    assert outcome.summary["picking"]["waves"] == 0
    assert outcome.summary["allocation"]["orders_planned"] < len(day.orders)


def test_a_checkpoint_of_other_inputs_is_not_resumed(
    day_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    job.Checkpoint(out / "checkpoint", "another day")
    assert cli.main(["replan", str(day_file), "--out", str(out)]) == cli.USAGE
    assert "checkpoint of other inputs" in capsys.readouterr().err


def _replan_process(day_file: Path, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "replan", str(day_file), "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def test_a_run_killed_at_a_random_moment_resumes_to_the_same_plans(
    day: Day, day_file: Path, local_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    total = len(list((local_run / "checkpoint").glob("*_*.json")))
    # A random point of progress: kill the whole process group once that many tasks are done.
    kill_after = random.Random(os.getpid()).randint(1, total - 4)
    process = _replan_process(day_file, out)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if len(list(out.glob("checkpoint/*_*.json"))) >= kill_after:
            break
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert not (out / "summary.json").exists(), "killed before the end"
    done_before = len(list(out.glob("checkpoint/*_*.json")))
    assert kill_after <= done_before < total
    rerun = _replan_process(day_file, out)
    stdout, stderr = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, stderr.decode()
    assert plans(out) == plans(local_run)
    assert f"{total - done_before} tasks solved, {done_before} from the checkpoint" in (
        stdout.decode()
    )


# -- progress -------------------------------------------------------------------------------


class _Stream:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def test_progress_shows_rate_and_eta_on_a_terminal_and_log_lines_elsewhere() -> None:
    now = [0.0]
    stream = _Stream()
    bar = Progress(stream, terminal=True, clock=lambda: now[0])  # type: ignore[arg-type]
    bar.start("picking", 10, resumed=2)
    now[0] = 4.0
    bar.advance()
    bar.advance()
    assert "\r" in stream.text
    assert "4/10 0.50/s ETA 0:12" in stream.text.rsplit("\r", 1)[1]
    log = _Stream()
    lines = Progress(log, clock=lambda: now[0])  # type: ignore[arg-type]
    lines.start("picking", 3)
    for _ in range(3):
        now[0] += 1.0
        lines.advance(ok=False)
    lines.finish()
    assert "\r" not in log.text
    assert log.text.splitlines()[0] == "picking: 3 tasks"
    assert log.text.splitlines()[-1].startswith("picking: 3/3 done, 3 failed")


# -- the command ----------------------------------------------------------------------------


def test_one_command_serves_replans_and_writes_sample_days(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["serve", "--help"])
    assert done.value.code == 0
    assert "--listen-address" in capsys.readouterr().out
    assert cli.main(["sample-day", str(tmp_path), "--orders", "50", "--format", "jsonl"]) == 0
    printed = capsys.readouterr().out
    assert f"warehouse replan {tmp_path / 'day.yaml'}" in printed
    assert len(load_day(tmp_path / "day.yaml").orders) == 50
    remote = ["replan", str(tmp_path / "day.yaml"), "--out", str(tmp_path / "x"), "--engine"]
    assert cli.main([*remote, "remote"]) == cli.USAGE
    assert "needs --address" in capsys.readouterr().err
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'warehouse = "services.cli:main"' in pyproject
