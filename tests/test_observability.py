"""Dashboards and alerts: deploy/prometheus and deploy/grafana against the server's real metrics.

``promtool`` checks the configuration and the rules and runs the rules' unit tests; every metric a
rule or a dashboard reads must be one the server exports (or a recording rule); and a real
Prometheus scrapes a running server, evaluates the recording and alert rules and answers queries
over them. The Prometheus programs come from Debian's ``prometheus`` package (``.ci/run``
installs it): without them these tests fail, they do not skip.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from warehouse.v1 import (
    common_pb2,
    inventory_pb2,
    inventory_pb2_grpc,
    picking_pb2_grpc,
    routing_pb2,
    routing_pb2_grpc,
)

from services.metrics import SNAPSHOT_OUTCOMES, STORE_OPERATIONS
from services.server import WarehouseServer
from tests.conftest import ROOT
from tests.test_services_inventory import RECEIPT, event, snapshot
from tests.test_services_picking import wave_request

PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
RULE_FILES = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))

#: The seed that makes the patched planner of the end-to-end test fail (an INTERNAL error).
FAILING_SEED = 666


def _program(name: str) -> str:
    """Path of a Prometheus program; a clear failure when it is not installed."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name!r} is not on PATH: install Debian's prometheus package "
            "(apt-get install prometheus, as .ci/run does) to check the dashboards and alerts"
        )
    return path


def _run(*args: str, cwd: Path = PROMETHEUS_DIR) -> str:
    """Run a program to success; return its output."""
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(args)} failed ({done.returncode}):\n{output}"
    return output


def _load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def _rules() -> list[dict[str, Any]]:
    return [rule for path in RULE_FILES for g in _load_yaml(path)["groups"] for rule in g["rules"]]


def _dashboard(path: Path) -> dict[str, Any]:
    board: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return board


def _panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def _dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target and query variable of every dashboard."""
    out: list[tuple[str, str]] = []
    for path in DASHBOARDS:
        board = _dashboard(path)
        for panel in _panels(board):
            for target in panel.get("targets", []):
                out.append((f"{path.name}: {panel['title']}", target["expr"]))
        for variable in board["templating"]["list"]:
            if variable["type"] == "query":
                query = variable["query"]
                text = query["query"] if isinstance(query, dict) else query
                match = re.fullmatch(r"label_values\((.+),\s*\w+\)", text)
                assert match, f"{path.name}: variable {variable['name']}: {text}"
                out.append((f"{path.name}: variable {variable['name']}", match.group(1)))
    return out


def _grafana_to_promql(expr: str) -> str:
    """A dashboard query as Prometheus runs it with every job and method selected."""
    return (
        expr.replace("$__rate_interval", "1m")
        .replace("$__interval", "15s")
        .replace("$job", ".*")
        .replace("$method", ".*")
    )


# -- metric names in PromQL -----------------------------------------------------------------

_PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile",
    "count_values", "group", "by", "without", "on", "ignoring", "group_left", "group_right",
    "and", "or", "unless", "bool", "offset", "inf", "nan",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """Names of the metrics (and recording rules) an expression reads."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals: label values
    text = re.sub(r"\$\{?\w+\}?", "", text)  # Grafana variables
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors
    # label lists of aggregations and vector matching
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", text)
    names = set()
    for match in re.finditer(r"(?<![\w.:])([A-Za-z_:][\w:]*)(\s*\()?", text):
        word, is_call = match.group(1), match.group(2)
        if not is_call and word.lower() not in _PROMQL_WORDS:
            names.add(word)
    return names


def test_metric_names_are_found_in_expressions() -> None:
    """The name extraction the metric check relies on: names only, no labels or functions."""
    expr = (
        'sum by (job, le) (rate(a_bucket{job=~"$job", x="b c"}[$__rate_interval])) '
        "/ on (job) group_left (le) b:c:rate5m > bool 0.5e-3 or vector(1) "
        'and histogram_quantile(0.9, d) unless e offset 5m or label_replace(f, "x", "$1", "y", "z")'
    )
    assert metric_names(expr) == {"a_bucket", "b:c:rate5m", "d", "e", "f"}


def _exported_names(text: str) -> set[str]:
    """Every sample name of a /metrics text, with or without samples yet."""
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("", "_sum", "_count", "_created"),
        "gauge": ("",),
        "info": ("_info",),
    }
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def _scrape(server: WarehouseServer) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=5) as r:
        text: str = r.read().decode()
    return text


# -- promtool ---------------------------------------------------------------------------------


def test_promtool_checks_the_prometheus_config() -> None:
    """prometheus.yml and the rule files it loads are valid."""
    output = _run(_program("promtool"), "check", "config", "prometheus.yml")
    assert f"SUCCESS: {len(RULE_FILES)} rule files found" in output


def test_promtool_checks_the_kubernetes_config(tmp_path: Path) -> None:
    """prometheus-kubernetes.yml is valid; its relabelling too where promtool lacks Kubernetes
    discovery (Debian builds Prometheus without it)."""
    promtool = _program("promtool")
    name = "prometheus-kubernetes.yml"
    done = subprocess.run(
        [promtool, "check", "config", name],
        cwd=PROMETHEUS_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode == 0:
        return
    output = done.stdout + done.stderr
    assert "field kubernetes_sd_configs not found" in output, output
    config = _load_yaml(PROMETHEUS_DIR / name)
    for job in config["scrape_configs"]:
        for sd in job.pop("kubernetes_sd_configs"):
            assert set(sd) <= {"role", "namespaces", "selectors", "api_server", "attach_metadata"}
            assert sd["role"] == "pod" and sd["namespaces"]["names"] == ["warehouse"]
            for selector in sd["selectors"]:
                assert set(selector) <= {"role", "label", "field"} and selector["role"] == "pod"
        job["static_configs"] = [{"targets": ["127.0.0.1:9464"]}]
    config["rule_files"] = [str(PROMETHEUS_DIR / p) for p in config["rule_files"]]
    (tmp_path / name).write_text(yaml.safe_dump(config))
    _run(promtool, "check", "config", name, cwd=tmp_path)


def test_promtool_checks_the_rules() -> None:
    """Every rule file parses and every expression is valid PromQL."""
    _run(_program("promtool"), "check", "rules", *(str(p) for p in RULE_FILES))


def test_promtool_unit_tests_of_the_rules() -> None:
    """The alert and recording rules' unit tests (input series, expected alerts and samples)."""
    output = _run(_program("promtool"), "test", "rules", *(str(p) for p in RULE_TESTS))
    assert output.count("SUCCESS") == len(RULE_TESTS), output


def test_every_alert_is_documented_and_tested() -> None:
    """Each alert has a severity, a summary, a description and a runbook hint, and a unit test
    in which it fires."""
    alerts = {rule["alert"]: rule for rule in _rules() if "alert" in rule}
    assert {
        "WarehouseTargetDown",
        "WarehouseGrpcHighErrorRate",
        "WarehouseGrpcHighLatency",
        "WarehouseSolveHighLatency",
        "WarehouseSolveDeadlineExceeded",
        "WarehouseResourceExhausted",
        "WarehouseInventoryFeedStalled",
    } <= set(alerts)
    fired = {
        case["alertname"]
        for path in RULE_TESTS
        for test in _load_yaml(path)["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        for key in ("summary", "description", "runbook"):
            assert rule["annotations"].get(key, "").strip(), f"{name} has no {key}"
        assert name in fired, f"no unit test makes {name} fire"


def test_recording_rules_follow_the_naming_convention() -> None:
    """level:metric:operations, each recorded once."""
    recorded = [rule["record"] for rule in _rules() if "record" in rule]
    assert len(recorded) == len(set(recorded))
    for name in recorded:
        assert re.fullmatch(r"[a-z_]+:[a-z_]+:[a-z0-9_]+", name), name


# -- dashboards -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.stem for p in DASHBOARDS])
def test_dashboard_is_a_valid_grafana_dashboard(path: Path) -> None:
    """Schema 39, a data source variable used by every panel and query, unique panel ids,
    panels inside the 24-column grid without overlapping."""
    board = _dashboard(path)
    assert board["schemaVersion"] == 39
    assert board["uid"] and len(board["uid"]) <= 40 and board["title"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    uses_datasource = {"type": "prometheus", "uid": "${datasource}"}
    ids: set[int] = set()
    cells: set[tuple[int, int]] = set()
    for panel in _panels(board):
        assert panel["id"] not in ids, f"panel id {panel['id']} twice"
        ids.add(panel["id"])
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24 and pos["h"] > 0, panel["title"]
        area = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not area & cells, f"{panel['title']} overlaps another panel"
        cells |= area
        if panel["type"] == "row":
            continue
        assert panel["type"] in {"timeseries", "stat", "heatmap"}, panel["type"]
        assert panel["datasource"] == uses_datasource, panel["title"]
        assert panel["targets"], panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == uses_datasource, panel["title"]
            assert target["expr"].strip(), panel["title"]
    for variable in variables.values():
        if variable["type"] == "query":
            assert variable["datasource"] == uses_datasource


def test_the_three_dashboards() -> None:
    """Service overview, optimisation value and inventory feed, with distinct uids."""
    boards = [_dashboard(p) for p in DASHBOARDS]
    assert {b["uid"] for b in boards} == {
        "warehouse-overview",
        "warehouse-value",
        "warehouse-inventory",
    }


# -- metric names against the server ----------------------------------------------------------


def test_rules_and_dashboards_read_only_metrics_the_server_exports(
    server: WarehouseServer,
) -> None:
    """Every metric name in a rule or a dashboard is exported by the server (before any call:
    the names, with or without samples) or recorded by a rule."""
    exported = _exported_names(_scrape(server))
    recorded = {rule["record"] for rule in _rules() if "record" in rule}
    assert not recorded & exported
    known = exported | recorded | {"up"}  # up: Prometheus' own series per scrape target
    expressions = [(f"rule {r.get('record') or r['alert']}", r["expr"]) for r in _rules()]
    expressions += _dashboard_queries()
    unknown = {
        f"{where}: {name}"
        for where, expr in expressions
        for name in metric_names(expr)
        if name not in known
    }
    assert not unknown, "\n".join(sorted(unknown))
    # The gRPC ecosystem's names, for the community dashboards.
    assert {
        "grpc_server_started_total",
        "grpc_server_handled_total",
        "grpc_server_handling_seconds_bucket",
        "grpc_server_msg_received_total",
        "grpc_server_msg_sent_total",
    } <= exported


def test_domain_metrics_of_waves_snapshots_and_the_store(
    server: WarehouseServer, channel: grpc.Channel
) -> None:
    """Waves record their solve time, carts, baseline carts and totes; snapshot streams their
    outcome; store calls their latency per operation; inventory outcomes start at zero."""
    registry = server.metrics.registry

    def value(name: str, **labels: str) -> float:
        return registry.get_sample_value(name, labels) or 0.0

    assert (
        registry.get_sample_value(
            "warehouse_inventory_events_total", {"outcome": "applied", "reason": "none"}
        )
        == 0.0
    )
    for outcome in SNAPSHOT_OUTCOMES:
        assert (
            registry.get_sample_value("warehouse_inventory_snapshots_total", {"outcome": outcome})
            == 0.0
        )
    for operation in STORE_OPERATIONS:
        assert value("warehouse_store_operation_seconds_count", operation=operation) == 0

    wave = picking_pb2_grpc.PickingServiceStub(channel).PlanWave(wave_request(), timeout=30)
    assert value("warehouse_wave_solve_seconds_count") == 1
    assert value("warehouse_wave_batches_sum") == len(wave.batches)
    assert value("warehouse_wave_baseline_batches_sum") == wave.baseline_batches
    totes = sum(len(t.totes) for b in wave.batches for t in b.totes)
    assert totes > 0 and value("warehouse_wave_totes_sum") == totes
    assert value("warehouse_store_operation_seconds_count", operation="read_stock") == 1

    inventory = inventory_pb2_grpc.InventoryServiceStub(channel)
    rows = [("A01-B1-001L", "SKU-X", 3), ("A01-B1-002L", "SKU-X", 4)]
    inventory.ReplaceStock(snapshot("demo", "s1", rows))
    inventory.ReplaceStock(snapshot("demo", "s1", rows))  # a resend
    with pytest.raises(grpc.RpcError):
        inventory.ReplaceStock(snapshot("demo", "s2", rows, end=False))
    with pytest.raises(grpc.RpcError):
        inventory.ReplaceStock(snapshot("demo", "s3", [("NO-SUCH-BIN", "SKU-X", 1)]))
    counts = {o: value("warehouse_inventory_snapshots_total", outcome=o) for o in SNAPSHOT_OUTCOMES}
    assert counts == {"committed": 1, "duplicate": 1, "aborted": 1, "failed": 1}
    assert value("warehouse_inventory_snapshot_rows_total") == 2
    assert value("warehouse_store_operation_seconds_count", operation="snapshot_commit") == 1

    inventory.ApplyEvents(
        inventory_pb2.ApplyEventsRequest(
            site_id="demo", events=[event(1, RECEIPT, "SKU-X", 1), event(1, RECEIPT, "SKU-X", 1)]
        )
    )
    inventory.GetStock(inventory_pb2.GetStockRequest(site_ids=["demo"], skus=["SKU-X"]))
    inventory.GetSiteState(inventory_pb2.GetSiteStateRequest(site_id="demo"))
    assert value("warehouse_inventory_events_total", outcome="applied", reason="none") == 1
    assert value("warehouse_inventory_events_total", outcome="duplicate", reason="repeated") == 1
    for operation in ("apply_events", "read_stock", "read_state"):
        assert value("warehouse_store_operation_seconds_count", operation=operation) >= 1


# -- a real Prometheus ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


class Prometheus:
    """A private Prometheus server on a free loopback port, its data in a temporary directory."""

    def __init__(self, config: dict[str, Any], directory: Path) -> None:
        binary = _program("prometheus")
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = directory / "prometheus.log"
        config_path = directory / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config))
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config_path}",
                    f"--storage.tsdb.path={directory / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.wait_for(self._ready, 20, "Prometheus to start")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False

    def get(self, path: str, **params: str) -> Any:
        """The ``data`` of an HTTP API answer; fails on an error answer."""
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=5) as reply:
                body = json.load(reply)
        except urllib.error.HTTPError as error:
            body = json.load(error)
        assert body["status"] == "success", f"{path} {params}: {body}"
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's vector."""
        data = self.get("/api/v1/query", query=expr)
        assert data["resultType"] == "vector", data
        result: list[dict[str, Any]] = data["result"]
        return result

    def value(self, expr: str) -> float | None:
        """The value of a query that answers one series, None while it answers none."""
        result = self.query(expr)
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if self.process.poll() is not None:
                pytest.fail(f"Prometheus exited ({self.process.returncode}):\n{self.log()}")
            if time.monotonic() > deadline:
                pytest.fail(f"gave up waiting for {what} after {timeout_s} s:\n{self.log()}")
            time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def prometheus_for(tmp_path: Path) -> Iterator[Callable[[WarehouseServer], Prometheus]]:
    """Start Prometheus with deploy/prometheus's config and rules, scraping a server every
    second; it stops at teardown."""
    started: list[Prometheus] = []

    def start(server: WarehouseServer) -> Prometheus:
        config = _load_yaml(PROMETHEUS_DIR / "prometheus.yml")
        config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
        config["rule_files"] = [str(p) for p in RULE_FILES]
        (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "warehouse"]
        job["static_configs"] = [{"targets": [f"127.0.0.1:{server.metrics_port}"]}]
        config["scrape_configs"] = [job]
        prometheus = Prometheus(config, tmp_path)
        started.append(prometheus)
        return prometheus

    yield start
    for prometheus in started:
        prometheus.stop()


def test_prometheus_records_what_the_server_did(
    server: WarehouseServer,
    channel: grpc.Channel,
    prometheus_for: Callable[[WarehouseServer], Prometheus],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A real Prometheus scrapes a server that answers PlanRoute calls (some fail INTERNAL)
    and applies inventory events; the recorded error ratio is exactly the share of failed
    calls, rate and latency quantiles are consistent with them, the alert goes pending, and
    every dashboard query runs."""
    plan = server.planner.plan

    def failing_plan(job: Any, *args: Any, **kwargs: Any) -> Any:
        if job.seed == FAILING_SEED:
            raise RuntimeError("injected failure")
        return plan(job, *args, **kwargs)

    monkeypatch.setattr(server.planner, "plan", failing_plan)
    routing = routing_pb2_grpc.RoutingServiceStub(channel)
    inventory = inventory_pb2_grpc.InventoryServiceStub(channel)

    def route(fail: bool) -> None:
        request = routing_pb2.PlanRouteRequest(
            warehouse_id="demo",
            bin_ids=["A03-B1-012L", "A07-B1-040R", "A01-B1-001L"],
            options=common_pb2.SolveOptions(seed=FAILING_SEED if fail else 1),
        )
        try:
            routing.PlanRoute(request, timeout=10)
        except grpc.RpcError as error:
            assert fail and error.code() == grpc.StatusCode.INTERNAL
        else:
            assert not fail

    # Before the first scrape: the series exist, so the calls below are increases Prometheus
    # sees (a series' first sample is no increase). Counts well above the increases keep
    # rate()'s extrapolation the same for every series.
    for _ in range(10):
        route(fail=False)
        route(fail=True)
    prometheus = prometheus_for(server)
    code = 'grpc_server_handled_total{job="warehouse", grpc_method="PlanRoute", grpc_code="%s"}'
    prometheus.wait_for(lambda: prometheus.value(code % "INTERNAL") == 10, 15, "the first scrape")

    # 2 failed calls, then 6 good ones: the error ratio is 2/8 only once all are scraped.
    for fail in (True, True, False, False, False, False, False, False):
        route(fail)
    inventory.ApplyEvents(
        inventory_pb2.ApplyEventsRequest(
            site_id="demo", events=[event(n, RECEIPT, "SKU-0001", 1) for n in range(1, 4)]
        )
    )
    plan_route = (
        '{job="warehouse", grpc_service="warehouse.v1.RoutingService", grpc_method="PlanRoute"}'
    )
    ratio = f"job_method:grpc_server_errors:ratio_rate5m{plan_route}"
    applied = 'job_outcome:warehouse_inventory_events:rate5m{job="warehouse", outcome="applied"}'

    def recorded() -> bool:
        errors, events = prometheus.value(ratio), prometheus.value(applied)
        return errors is not None and math.isclose(errors, 0.25) and bool(events)

    prometheus.wait_for(recorded, 20, f"{ratio} == 0.25 and {applied} > 0")

    # rate() extrapolates a little past the samples, never below what was counted: 8 calls.
    rate = prometheus.value(f"job_method:grpc_server_handled:rate5m{plan_route}")
    assert rate is not None and 8 <= rate * 300 <= 8 * 3.5
    events = prometheus.value(applied)
    assert events is not None and 3 <= events * 300 <= 3 * 3.5
    quantiles = [
        prometheus.value(f"job_method:grpc_server_handling_seconds:{q}_rate5m{plan_route}")
        for q in ("p50", "p95", "p99")
    ]
    assert all(q is not None for q in quantiles), quantiles
    p50, p95, p99 = (float(q or 0) for q in quantiles)
    assert 0 < p50 <= p95 <= p99 <= 10  # every call answered within its 10 s timeout
    assert (
        prometheus.value(f"job_method:grpc_server_deadline_exceeded:ratio_rate5m{plan_route}") == 0
    )

    # 25% server errors: WarehouseGrpcHighErrorRate is pending (it fires after 5 minutes).
    def pending() -> bool:
        alerts = prometheus.get("/api/v1/alerts")["alerts"]
        return any(
            a["labels"]["alertname"] == "WarehouseGrpcHighErrorRate"
            and a["labels"]["grpc_method"] == "PlanRoute"
            and a["state"] == "pending"
            for a in alerts
        )

    prometheus.wait_for(pending, 10, "WarehouseGrpcHighErrorRate to be pending")
    groups = prometheus.get("/api/v1/rules")["groups"]
    broken = [
        f"{r['name']}: {r.get('lastError')}"
        for g in groups
        for r in g["rules"]
        if r["health"] == "err"
    ]
    assert not broken, broken
    assert sum(len(g["rules"]) for g in groups) == len(_rules())

    # Every dashboard query runs, as Grafana sends it with all jobs and methods selected.
    for where, expr in _dashboard_queries():
        try:
            prometheus.query(_grafana_to_promql(expr))
        except AssertionError as error:
            pytest.fail(f"{where}: {error}")
    jobs = {s["metric"]["job"] for s in prometheus.query("grpc_server_handled_total")}
    assert jobs == {"warehouse"}
