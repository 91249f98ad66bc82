"""The replan report as a browser shows it: headless Chromium opens the page and we read its DOM.

The data is real: a rectangular layout compiled from its proto, carts routed by the route solver,
and a summary shaped like the job's ``summary.json``. Chromium comes from Debian's ``chromium``
package (``.ci/run`` installs it); without it these tests fail, they do not skip.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import struct
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from warehouse.v1 import layout_pb2

from routing.oracle import DistanceOracle
from routing.route import PickList, solve
from services.layouts import compile_layout
from services.replan.report import (
    Floor,
    floor_of,
    format_elapsed,
    format_money,
    render,
    write_report,
)
from tests.conftest import grid_layout

WAREHOUSE = "ABE1"
#: Carts per wave: the first wave has three, the second two.
CARTS_PER_WAVE = (3, 2)
SCREEN = (1280, 1600)
CHROMIUM_TIMEOUT_S = 60


# -- a tiny DOM over html.parser ----------------------------------------------------------------

VOID_TAGS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)
#: Elements whose text is separated from what follows (table cells, paragraphs, headings).
BLOCK_TAGS = frozenset(
    {"td", "th", "tr", "p", "div", "dt", "dd", "li", "h1", "h2", "h3", "summary", "pre"}
)


@dataclass
class Element:
    """One element of the parsed page: tag, attributes, children and text in document order."""

    tag: str
    attrs: dict[str, str]
    children: list[Element | str] = field(default_factory=list)

    def iter(self) -> Iterator[Element]:
        """This element and every element below it, in document order."""
        yield self
        for child in self.children:
            if isinstance(child, Element):
                yield from child.iter()

    def find_all(self, tag: str = "", **attrs: str) -> list[Element]:
        """Elements with this tag (any when empty) whose attributes have these values.

        ``class_`` matches one class of the ``class`` attribute; ``data_x`` matches ``data-x``.
        """
        found = []
        for element in self.iter():
            if tag and element.tag != tag:
                continue
            ok = True
            for key, value in attrs.items():
                if key == "class_":
                    ok = ok and value in element.attrs.get("class", "").split()
                else:
                    ok = ok and element.attrs.get(key.replace("_", "-")) == value
            if ok:
                found.append(element)
        return found

    def by_id(self, ident: str) -> Element:
        """The one element with this id."""
        found = self.find_all(id=ident)
        assert len(found) == 1, f"expected one element with id={ident!r}, found {len(found)}"
        return found[0]

    def text(self) -> str:
        """The element's text, whitespace collapsed."""
        parts: list[str] = []

        def walk(node: Element) -> None:
            for child in node.children:
                if isinstance(child, str):
                    parts.append(child)
                else:
                    walk(child)
                    if child.tag in BLOCK_TAGS:
                        parts.append(" ")

        walk(self)
        return " ".join("".join(parts).split())


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        if tag not in VOID_TAGS:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Element(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(markup: str) -> Element:
    """The element tree of an HTML document."""
    builder = _TreeBuilder()
    builder.feed(markup)
    builder.close()
    return builder.root


# -- headless Chromium --------------------------------------------------------------------------


def _chromium() -> str:
    """Path of the Chromium binary; a clear failure when it is not installed."""
    path = shutil.which("chromium") or (
        "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None
    )
    if path is None:
        pytest.fail(
            "chromium is not installed: install Debian's chromium package "
            "(apt-get install chromium, as .ci/run does) to check the replan report in a browser"
        )
    return path


def _run_chromium(page: Path, work: Path, *args: str) -> str:
    """Open ``page`` in headless Chromium with ``args``; return its standard output.

    A private profile, no network (every host resolves to nothing) and no background services,
    so the run neither touches the user's profile nor could load anything from outside.
    """
    command = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-extensions",
        "--disable-sync",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={work / 'chromium-profile'}",
        *args,
        page.resolve().as_uri(),
    ]
    env = {
        **os.environ,
        "HOME": str(work),
        "XDG_CONFIG_HOME": str(work),
        "XDG_CACHE_HOME": str(work),
    }
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT_S, env=env, check=False
    )
    assert done.returncode == 0, f"chromium failed ({done.returncode}):\n{done.stderr[-3000:]}"
    return done.stdout


def dump_dom(markup: str, work: Path, screenshot: Path | None = None) -> Element:
    """Write ``markup`` to a file in ``work``, open it in Chromium and parse the DOM it shows.

    With ``screenshot``, the same run also draws the top :data:`SCREEN` of the page to it.
    """
    work.mkdir(parents=True, exist_ok=True)
    page = work / "page.html"
    page.write_text(markup, encoding="utf-8")
    args = ["--dump-dom"]
    if screenshot is not None:
        args += [
            f"--screenshot={screenshot}",
            f"--window-size={SCREEN[0]},{SCREEN[1]}",
            "--hide-scrollbars",
        ]
    dom = _run_chromium(page, work, *args)
    assert "<html" in dom, f"chromium dumped no document:\n{dom[:500]}"
    return parse(dom)


# -- realistic data -----------------------------------------------------------------------------


def small_layout() -> layout_pb2.Layout:
    """Four aisles of six cells in two blocks; a depot between aisles 1 and 2 at the front."""
    return layout_pb2.Layout(
        id=WAREHOUSE,
        rectangular=layout_pb2.RectangularLayout(
            aisles=4,
            cells_per_face=[6],
            cross_aisles=3,
            depots=[
                layout_pb2.RectangularDepot(id="PD1", cross_aisle=0, x_m=1.5),
                layout_pb2.RectangularDepot(id="PD2", cross_aisle=2, x_m=9.0),
            ],
        ),
    )


def make_waves(oracle: DistanceOracle) -> list[dict[str, Any]]:
    """Two waves of ``plans/waves.jsonl`` records whose carts are routed by the route solver."""
    bins = oracle.bin_ids
    waves: list[dict[str, Any]] = []
    order_number = 0
    for w, carts in enumerate(CARTS_PER_WAVE, start=1):
        batches: list[dict[str, Any]] = []
        baseline_m = 0.0
        for k in range(carts):
            picks_at = [bins[(29 * (3 * w + k) + 11 * j) % len(bins)] for j in range(4)]
            route = solve(oracle, PickList(tuple(picks_at)), with_path=True)
            orders = [f"O{order_number + 1:04d}", f"O{order_number + 2:04d}"]
            order_number += 2
            picks = [
                {
                    "order_id": orders[stop.request_index % 2],
                    "line_index": stop.request_index // 2,
                    "sku": f"SKU{stop.request_index:03d}",
                    "bin_id": stop.bin_id,
                    "quantity": 1,
                    "tote": stop.request_index % 2,
                    "cumulative_distance_m": stop.cumulative_mm / 1000,
                }
                for stop in route.stops
            ]
            batches.append(
                {
                    "index": k,
                    "order_ids": orders,
                    "distance_m": route.distance_mm / 1000,
                    "picks": picks,
                    "path": [[p.x_m, p.y_m] for p in route.path],
                }
            )
            # First-come-first-served carts on S-shape routes walk further than the optimum.
            baseline_m += route.baseline_distance_mm / 1000 + 6.0
        waves.append(
            {
                "wave_id": f"{WAREHOUSE}-W{w:03d}",
                "warehouse_id": WAREHOUSE,
                "index": w,
                "order_ids": [o for b in batches for o in b["order_ids"]],
                "distance_m": round(sum(b["distance_m"] for b in batches), 3),
                "baseline_distance_m": round(baseline_m, 3),
                "baseline_batches": carts + 1,
                "status": "optimal",
                "batches": batches,
                "unserved": [],
            }
        )
    waves[1]["unserved"] = [
        {
            "order_id": "O0099",
            "line_index": 0,
            "sku": "SKU999",
            "quantity": 2,
            "reason": "out_of_stock",
            "message": "no bin holds SKU999",
        }
    ]
    return waves


def make_summary(waves: list[dict[str, Any]]) -> dict[str, Any]:
    """A ``summary.json`` for the waves, with allocation figures of a small day."""
    distance = round(sum(w["distance_m"] for w in waves), 3)
    baseline = round(sum(w["baseline_distance_m"] for w in waves), 3)
    batches = sum(len(w["batches"]) for w in waves)
    orders = sum(len(w["order_ids"]) for w in waves)
    return {
        "name": "sample-day",
        "plan_date": "2026-11-28",
        "engine": "highs",
        "seed": 7,
        "currency": "USD",
        "elapsed_s": 83.4,
        "allocation": {
            "orders": 120,
            "orders_complete": 117,
            "packages": 131,
            "shipping_cost": 1_234_567,
            "penalty": 300_000,
            "objective": 1_534_567,
            "bound": 1_530_000,
            "gap": 0.003,
            "unfilled_lines": 3,
            "savings": 355_433,
            "saving_ratio": 355_433 / 1_890_000,
            "baseline": {
                "shipping_cost": 1_490_000,
                "penalty": 400_000,
                "objective": 1_890_000,
                "packages": 140,
                "unfilled_lines": 4,
            },
            "unfilled_by_reason": {"out_of_stock": 2, "no_service_meets_promise": 1},
            "cost_by_fc": {
                "ABE1": {"packages": 90, "cost": 834_567},
                "PHX3": {"packages": 41, "cost": 400_000},
            },
            "cost_by_service": {
                "UPS GROUND": {"packages": 100, "cost": 900_000},
                "FEDEX 2DAY": {"packages": 25, "cost": 280_000},
                "USPS PRIORITY": {"packages": 6, "cost": 54_567},
            },
        },
        "picking": {
            "waves": len(waves),
            "batches": batches,
            "distance_m": distance,
            "baseline_distance_m": baseline,
            "saving_ratio": 1 - distance / baseline,
            "unserved_lines": 1,
            "by_warehouse": {
                WAREHOUSE: {
                    "waves": len(waves),
                    "batches": batches,
                    "orders": orders,
                    "distance_m": distance,
                    "baseline_distance_m": baseline,
                }
            },
        },
        "failures": [{"task": "picking PHX3-W001", "error": "RuntimeError: solver crashed"}],
    }


@dataclass(frozen=True)
class Shown:
    """A report rendered from the sample data and what Chromium made of it."""

    floor: Floor
    waves: list[dict[str, Any]]
    summary: dict[str, Any]
    markup: str
    dom: Element
    screenshot: Path


@pytest.fixture(scope="module")
def oracle() -> DistanceOracle:
    """The small rectangular layout, compiled from its proto like the job does."""
    return compile_layout(small_layout())


@pytest.fixture(scope="module")
def shown(oracle: DistanceOracle, tmp_path_factory: pytest.TempPathFactory) -> Shown:
    """Render the sample day, dump Chromium's DOM of it and take a screenshot."""
    work = tmp_path_factory.mktemp("report")
    waves = make_waves(oracle)
    summary = make_summary(waves)
    floor = floor_of(oracle)
    markup = render(summary, waves, {WAREHOUSE: floor})
    screenshot = work / "report.png"
    dom = dump_dom(markup, work, screenshot)
    return Shown(floor, waves, summary, markup, dom, screenshot)


# -- tests --------------------------------------------------------------------------------------


def test_missing_chromium_fails_with_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without Chromium the browser tests fail (not skip) and say how to install it."""
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(pytest.fail.Exception, match="apt-get install chromium"):
        _chromium()


def test_floor_of_rectangular_layout(oracle: DistanceOracle) -> None:
    """Every segment is drawn between its junctions; depots and bounds match the layout."""
    floor = floor_of(oracle)
    layout = oracle.layout
    assert len(floor.segments) == len(layout.segments)
    xy = {j.id: (j.x_m, j.y_m) for j in layout.junctions}
    first = layout.segments[0]
    assert floor.segments[0] == (*xy[first.start], *xy[first.end])
    # 4 aisles 3 m apart; 2 blocks of 6 cells of 1 m with 1 m end gaps: y runs 0 .. 16.
    assert floor.bounds == (0.0, 0.0, 9.0, 16.0)
    assert floor.depots == (("PD1", 1.5, 0.0), ("PD2", 9.0, 16.0))


def test_floor_of_interpolates_depots_on_segments() -> None:
    """A depot on a segment sits at its offset along it, where the routes start."""
    layout = grid_layout("grid", aisles=3)
    layout.graph.depots.add(id="MID", segment="aisle1", offset_m=5.0)
    oracle = compile_layout(layout)
    floor = floor_of(oracle)
    assert floor.depots == (("D", 0.0, 0.0), ("MID", 4.0, 5.0))
    route = solve(oracle, PickList(("a2-3",), start_depot="MID"), with_path=True)
    assert (route.path[0].x_m, route.path[0].y_m) == (4.0, 5.0)


def test_floor_json_round_trip_and_errors(oracle: DistanceOracle) -> None:
    """A floor survives floors.json; a malformed one is refused naming the field."""
    floor = floor_of(oracle)
    assert Floor.from_json(json.loads(json.dumps(floor.to_json()))) == floor
    broken = floor.to_json()
    broken["segments"][2] = [0, 1, 2]
    with pytest.raises(ValueError, match=r"segments\[2\]"):
        Floor.from_json(broken)
    with pytest.raises(ValueError, match="bounds"):
        Floor(segments=(), depots=(), bounds=(5.0, 0.0, 1.0, 1.0))


def test_money_and_time_formats() -> None:
    """Minor units follow the currency's decimals; USD has its symbol, others their code."""
    assert format_money(1_234_567, "USD") == "$12,345.67"
    assert format_money(1_234_567, "EUR") == "12,345.67 EUR"
    assert format_money(-5, "USD") == "-$0.05"
    assert format_money(1_234_567, "JPY") == "1,234,567 JPY"
    assert format_money(1_234_567, "KWD") == "1,234.567 KWD"
    assert format_money(None, "USD") == "\u2014"
    assert format_elapsed(83.4) == "1 min 23 s"
    assert format_elapsed(12.34) == "12.3 s"


def test_header_and_savings_are_shown(shown: Shown) -> None:
    """The header names the run; both savings against their baselines are in the page."""
    dom = shown.dom
    assert "sample-day" in dom.find_all("h1")[0].text()
    assert dom.by_id("plan-date").text() == "2026-11-28"
    assert dom.by_id("engine").text() == "highs"
    assert dom.by_id("seed").text() == "7"
    assert dom.by_id("elapsed").text() == "1 min 23 s"

    savings = dom.by_id("total-allocation-savings")
    assert savings.text() == "$3,554.33 (18.8%)"
    assert savings.attrs["data-value"] == "355433"
    assert dom.by_id("allocation-objective").text() == "$15,345.67"
    assert dom.by_id("allocation-objective-baseline").text() == "$18,900.00"
    assert dom.by_id("allocation-shipping-cost").text() == "$12,345.67"
    assert dom.by_id("allocation-bound").text() == "$15,300.00"
    assert dom.by_id("allocation-gap").text() == "0.3%"

    picking = shown.summary["picking"]
    saved = picking["baseline_distance_m"] - picking["distance_m"]
    assert saved > 0
    assert dom.by_id("total-picking-savings").text() == (
        f"{saved:,.1f} m ({picking['saving_ratio'] * 100:.1f}%)"
    )
    assert dom.by_id("picking-distance").text() == f"{picking['distance_m']:,.1f} m"
    assert dom.by_id("picking-waves").text() == "2"
    assert dom.by_id("picking-batches").text() == str(sum(CARTS_PER_WAVE))
    assert dom.by_id("picking-baseline-batches").text() == str(sum(CARTS_PER_WAVE) + 2)


def test_cost_breakdowns_tables_and_charts(shown: Shown) -> None:
    """One row and one bar per FC and per carrier service, largest cost first."""
    dom = shown.dom
    fc_rows = dom.by_id("cost-by-fc").find_all("tr", data_fc="ABE1")
    assert len(fc_rows) == 1 and "$8,345.67" in fc_rows[0].text()
    assert [r.attrs["data-fc"] for r in dom.find_all("tr") if "data-fc" in r.attrs] == [
        "ABE1",
        "PHX3",
    ]
    services = [r.attrs["data-service"] for r in dom.find_all("tr") if "data-service" in r.attrs]
    assert services == ["UPS GROUND", "FEDEX 2DAY", "USPS PRIORITY"]
    assert "$545.67" in dom.find_all("tr", data_service="USPS PRIORITY")[0].text()
    fc_bars = dom.by_id("chart-cost-by-fc").find_all("g", class_="bar")
    assert [b.attrs["data-key"] for b in fc_bars] == ["ABE1", "PHX3"]
    widths = [float(b.find_all("rect")[0].attrs["width"]) for b in fc_bars]
    assert widths[0] > widths[1] > 0
    assert len(dom.by_id("chart-cost-by-service").find_all("g", class_="bar")) == 3


def test_unfilled_reasons_and_unserved_lines(shown: Shown) -> None:
    """Unfilled allocation lines by reason, and the picking's unserved lines."""
    section = shown.dom.by_id("unfilled")
    reasons = {
        r.attrs["data-reason"]: r.text() for r in section.find_all("tr") if "data-reason" in r.attrs
    }
    assert set(reasons) == {"out_of_stock", "no_service_meets_promise"}
    assert reasons["out_of_stock"] == "out of stock 2"
    assert shown.dom.by_id("unserved-lines").text() == "1"
    wave2 = shown.dom.find_all("details", class_="wave", data_wave=f"{WAREHOUSE}-W002")[0]
    assert [r.attrs["data-reason"] for r in wave2.find_all("tr") if "data-reason" in r.attrs] == [
        "out_of_stock"
    ]


def test_failures_are_shown(shown: Shown) -> None:
    """A failed task is listed with its error in a section of its own."""
    section = shown.dom.by_id("failures")
    rows = section.find_all("tr", data_task="picking PHX3-W001")
    assert len(rows) == 1 and "RuntimeError: solver crashed" in rows[0].text()


def test_one_map_per_wave_and_one_route_per_cart(shown: Shown) -> None:
    """Each wave has a map using its floor, with one polyline per cart along the solved path."""
    dom = shown.dom
    maps = dom.find_all("svg", class_="wave-map")
    assert [m.attrs["data-wave"] for m in maps] == [w["wave_id"] for w in shown.waves]
    floor_group = dom.find_all("g", class_="floor", data_warehouse=WAREHOUSE)
    assert len(floor_group) == 1
    aisles = floor_group[0].find_all("path", class_="aisles")[0].attrs["d"]
    assert aisles.count("M") == len(shown.floor.segments)
    assert [d.attrs["data-depot"] for d in floor_group[0].find_all(class_="depot")] == [
        "PD1",
        "PD2",
    ]
    for svg, wave in zip(maps, shown.waves, strict=True):
        assert [u.attrs["href"] for u in svg.find_all("use")] == [f"#{floor_group[0].attrs['id']}"]
        x, y, width, height = map(float, svg.attrs["viewbox"].split())
        assert x < 0 and y < -16 and x + width > 9 and y + height > 0
        routes = svg.find_all("polyline", class_="route")
        assert [r.attrs["data-batch"] for r in routes] == [str(b["index"]) for b in wave["batches"]]
        assert len({r.attrs["stroke"] for r in routes}) == len(routes)
        for route, batch in zip(routes, wave["batches"], strict=True):
            points = [tuple(map(float, p.split(","))) for p in route.attrs["points"].split()]
            assert len(points) == len(batch["path"]) > 2
            # y points up on the plan: SVG y is minus plan y; rounded to 0.1 m.
            assert points == [(round(px, 1), -round(py, 1) + 0.0) for px, py in batch["path"]]
            assert points[0] == (1.5, 0.0)
        legend = svg_legend(dom, wave["wave_id"])
        assert len(legend) == len(wave["batches"])
        assert f"{wave['batches'][0]['distance_m']:,.1f} m" in legend[0].text()
    rows = dom.find_all("table", class_="waves")[0].find_all("tr")
    assert [r.attrs.get("data-wave") for r in rows[1:]] == [w["wave_id"] for w in shown.waves]


def svg_legend(dom: Element, wave_id: str) -> list[Element]:
    """The legend rows of one wave's map."""
    details = dom.find_all("details", class_="wave", data_wave=wave_id)
    assert len(details) == 1
    return details[0].find_all("table", class_="legend")[0].find_all("tr")[1:]


def test_page_is_self_contained_and_screenshot_renders(shown: Shown) -> None:
    """No external resource in the page; Chromium draws it to a non-trivial PNG."""
    for element in shown.dom.iter():
        assert element.tag not in {"link", "img", "iframe", "object", "embed"}, element.tag
        assert not (element.tag == "script" and "src" in element.attrs)
        for name in ("src", "href", "xlink:href", "srcset", "action"):
            value = element.attrs.get(name, "")
            assert "//" not in value and not value.startswith("data:"), (name, value)
    assert "http://" not in shown.markup and "https://" not in shown.markup
    assert "@import" not in shown.markup and "url(" not in shown.markup

    png = shown.screenshot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == SCREEN
    assert len(png) > 20_000, f"screenshot of {len(png)} bytes looks blank"


def test_no_failures_and_nothing_unfilled(shown: Shown, tmp_path: Path) -> None:
    """Without failures there is no failures section; no unfilled lines reads "none"."""
    summary = copy.deepcopy(shown.summary)
    summary["failures"] = []
    summary["allocation"]["unfilled_by_reason"] = {}
    dom = dump_dom(render(summary, shown.waves, {WAREHOUSE: shown.floor}), tmp_path)
    assert dom.find_all(id="failures") == []
    assert "Failures" not in dom.find_all("nav")[0].text()
    unfilled = dom.by_id("unfilled")
    assert [r for r in unfilled.find_all("tr") if "data-reason" in r.attrs] == []
    assert [p.text() for p in unfilled.find_all("p", class_="none")] == ["none"]


def test_strings_from_the_data_are_escaped(shown: Shown, tmp_path: Path) -> None:
    """Markup in names, ids and errors is shown as text and never runs."""
    attack = "<script>document.body.setAttribute('data-pwned','1')</script>"
    summary = copy.deepcopy(shown.summary)
    summary["name"] = attack
    summary["allocation"]["cost_by_fc"]['<img src=x onerror="alert(1)">'] = {
        "packages": 1,
        "cost": 100,
    }
    summary["failures"] = [{"task": attack, "error": "</pre><script>alert(2)</script>"}]
    waves = copy.deepcopy(shown.waves)
    waves[0]["wave_id"] = 'W"><script>alert(3)</script>'
    markup = render(summary, waves, {WAREHOUSE: shown.floor})
    assert "<script" not in markup and "<img" not in markup
    assert "&lt;script&gt;" in markup

    dom = dump_dom(markup, tmp_path)
    body = dom.find_all("body")[0]
    assert "data-pwned" not in body.attrs
    assert dom.find_all("script") == [] and dom.find_all("img") == []
    assert attack in dom.find_all("h1")[0].text()
    assert (
        dom.find_all("tr", data_task=attack)[0].text().endswith("</pre><script>alert(2)</script>")
    )
    assert dom.find_all("svg", class_="wave-map")[0].attrs["data-wave"] == waves[0]["wave_id"]


def test_write_report_reads_the_run_directory(shown: Shown, tmp_path: Path) -> None:
    """write_report renders the files of a run directory into report.html, leaving no temp file."""
    (tmp_path / "plans").mkdir()
    (tmp_path / "summary.json").write_text(json.dumps(shown.summary), encoding="utf-8")
    (tmp_path / "plans" / "waves.jsonl").write_text(
        "".join(json.dumps(w) + "\n" for w in shown.waves), encoding="utf-8"
    )
    (tmp_path / "floors.json").write_text(
        json.dumps({WAREHOUSE: shown.floor.to_json()}), encoding="utf-8"
    )
    path = write_report(tmp_path)
    assert path == tmp_path / "report.html"
    assert path.read_text(encoding="utf-8") == shown.markup
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "floors.json",
        "plans",
        "report.html",
        "summary.json",
    ]

    (tmp_path / "floors.json").write_text(json.dumps({WAREHOUSE: {"segments": [], "depots": []}}))
    with pytest.raises(ValueError, match=f"floors.json: {WAREHOUSE}: bounds_m"):
        write_report(tmp_path)
    assert path.read_text(encoding="utf-8") == shown.markup
