"""The replanning report: one self-contained HTML page that shows what a replan saved and why.

The page is read by planners and operations managers who open it from a file share or a mail
attachment, often offline, so it carries everything inline: CSS, SVG charts and floor maps, no
external URL, font, script or image. Its input is exactly what the job writes to its output
directory (``summary.json``, ``plans/waves.jsonl`` and ``floors.json``, see docs/replan.md),
so a report can be rebuilt from an old run without solving again.

A day can hold hundreds of waves; every warehouse and every wave is a ``<details>`` element, and
each wave's map draws the floor once per warehouse (an SVG ``<use>`` of a shared definition) with
coordinates rounded to 0.1 m, so the file stays small and the page stays readable.

Every string taken from the data is escaped with :func:`html.escape`. Stable hooks (``id``,
``class`` and ``data-*`` attributes, listed in :func:`render`) let tests and scripts read the page.
"""

from __future__ import annotations

import html
import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from routing.oracle import DistanceOracle

#: A drawn aisle piece: (x1, y1, x2, y2) in metres on the floor plan.
SegmentXY = tuple[float, float, float, float]
#: A depot marker: (depot id, x, y) in metres on the floor plan.
DepotXY = tuple[str, float, float]
#: (min x, min y, max x, max y) in metres.
Bounds = tuple[float, float, float, float]

REPORT_FILE = "report.html"
#: The box (width, height in CSS pixels) a wave map is fitted into.
MAP_BOX_PX = (880, 520)

#: ISO 4217 currencies without minor units, and with three decimals; every other has two.
_ZERO_DECIMAL_CURRENCIES = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV"}
    | {"XAF", "XOF", "XPF"}
)
_THREE_DECIMAL_CURRENCIES = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})

#: Route colours (Tableau 10, distinguishable in print and by most colour-blind readers); carts
#: beyond ten get hues spaced by the golden angle.
_PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)

_DASH = "\u2014"

_CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
       sans-serif; margin: 1.5rem auto; max-width: 72rem; padding: 0 1rem; color: #1d2733;
       line-height: 1.4; }
h1 { font-size: 1.6rem; margin-bottom: .25rem; }
h2 { font-size: 1.25rem; border-bottom: 1px solid #d5dbe1; padding-bottom: .2rem;
     margin-top: 2rem; }
h3 { font-size: 1.05rem; }
nav a { margin-right: 1rem; }
dl.run { display: grid; grid-template-columns: max-content auto; gap: .1rem 1rem; }
dl.run dt { font-weight: 600; }
dl.run dd { margin: 0; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(22rem, 1fr)); gap: 1rem; }
.card { border: 1px solid #d5dbe1; border-radius: 6px; padding: .5rem 1rem 1rem; }
.saving { font-size: 1.3rem; font-weight: 700; color: #1b7f3b; }
.saving.negative { color: #b3261e; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { padding: .2rem .6rem; border-bottom: 1px solid #e4e8ec; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.none { color: #5c6873; font-style: italic; }
.failures { border: 2px solid #b3261e; background: #fdecea; border-radius: 6px;
            padding: .5rem 1rem; }
.failures h2 { color: #b3261e; border: none; margin-top: .5rem; }
.failures pre { white-space: pre-wrap; margin: 0; }
details { margin: .4rem 0; }
details > summary { cursor: pointer; }
details.warehouse > summary { font-size: 1.1rem; font-weight: 600; }
details.wave { margin-left: 1rem; }
.bar-chart { width: 100%; max-width: 40rem; height: auto; display: block; }
.bar-chart text { font-size: 12px; fill: #1d2733; }
.bar-chart rect { fill: #4e79a7; }
.wave-map { max-width: 100%; height: auto; display: block; background: #fafbfc;
            border: 1px solid #e4e8ec; }
/* Floors are drawn through <use>: their rules must not depend on the map around them. */
.floor .aisles { fill: none; stroke: #b8c0c8; stroke-width: 1;
                 vector-effect: non-scaling-stroke; }
.floor .depot { fill: #1d2733; }
.wave-map .route { fill: none; stroke-width: 2.5; stroke-linejoin: round; stroke-linecap: round;
                   stroke-opacity: .85; vector-effect: non-scaling-stroke; }
.wave-body { display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; align-items: flex-start; }
.swatch { display: inline-block; width: 1.4rem; height: .35rem; vertical-align: middle;
          border-radius: 2px; }
.floor-defs { position: absolute; width: 0; height: 0; overflow: hidden; }
"""


@dataclass(frozen=True)
class Floor:
    """A warehouse floor as the report draws it: aisle pieces, depots and the bounding box.

    Only geometry, in metres on the floor plan (x to the right, y to the back); ``bounds`` is
    (min x, min y, max x, max y) over every junction and depot. The report keeps its own small
    description instead of the layout so that ``floors.json`` is enough to redraw a run's maps
    without the layout files, which may have changed since.

    Raises
    ------
    ValueError
        A coordinate that is not finite, or bounds whose minimum exceeds their maximum.
    """

    segments: tuple[SegmentXY, ...]
    depots: tuple[DepotXY, ...]
    bounds: Bounds

    def __post_init__(self) -> None:
        for i, segment in enumerate(self.segments):
            if len(segment) != 4 or not all(_is_finite(v) for v in segment):
                raise ValueError(f"segments[{i}]: need 4 finite coordinates, got {segment!r}")
        for i, depot in enumerate(self.depots):
            if len(depot) != 3 or not isinstance(depot[0], str):
                raise ValueError(f"depots[{i}]: need (id, x, y), got {depot!r}")
            if not (_is_finite(depot[1]) and _is_finite(depot[2])):
                raise ValueError(f"depots[{i}]: coordinates must be finite, got {depot!r}")
        if len(self.bounds) != 4 or not all(_is_finite(v) for v in self.bounds):
            raise ValueError(f"bounds: need 4 finite numbers, got {self.bounds!r}")
        min_x, min_y, max_x, max_y = self.bounds
        if min_x > max_x or min_y > max_y:
            raise ValueError(f"bounds: minimum exceeds maximum in {self.bounds!r}")

    def to_json(self) -> dict[str, Any]:
        """The floor as JSON-ready data (the value of one warehouse in ``floors.json``)."""
        return {
            "segments": [list(s) for s in self.segments],
            "depots": [{"id": d[0], "x_m": d[1], "y_m": d[2]} for d in self.depots],
            "bounds_m": list(self.bounds),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Floor:
        """Read what :meth:`to_json` wrote.

        Raises
        ------
        ValueError
            A missing or malformed field, named by its path (``segments[3]``).
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"expected an object, got {type(data).__name__}")
        segments: list[SegmentXY] = []
        for i, raw in enumerate(_json_list(data, "segments")):
            if not (isinstance(raw, list) and len(raw) == 4 and all(map(_is_number, raw))):
                raise ValueError(f"segments[{i}]: expected [x1, y1, x2, y2], got {raw!r}")
            segments.append((float(raw[0]), float(raw[1]), float(raw[2]), float(raw[3])))
        depots: list[DepotXY] = []
        for i, raw in enumerate(_json_list(data, "depots")):
            if not (
                isinstance(raw, Mapping)
                and isinstance(raw.get("id"), str)
                and _is_number(raw.get("x_m"))
                and _is_number(raw.get("y_m"))
            ):
                raise ValueError(f"depots[{i}]: expected {{id, x_m, y_m}}, got {raw!r}")
            depots.append((raw["id"], float(raw["x_m"]), float(raw["y_m"])))
        bounds = _json_list(data, "bounds_m")
        if not (len(bounds) == 4 and all(map(_is_number, bounds))):
            raise ValueError(f"bounds_m: expected [min_x, min_y, max_x, max_y], got {bounds!r}")
        return cls(
            segments=tuple(segments),
            depots=tuple(depots),
            bounds=(float(bounds[0]), float(bounds[1]), float(bounds[2]), float(bounds[3])),
        )


def floor_of(oracle: DistanceOracle) -> Floor:
    """The drawable floor of a compiled layout (graph or rectangular, both are graphs here).

    Segments are drawn straight between their junctions whatever their walking length; depots
    standing on a segment are placed with the oracle's own interpolation, so they coincide with
    the first and last waypoints of the routes it computes.
    """
    layout = oracle.layout
    where = {j.id: (j.x_m, j.y_m) for j in layout.junctions}
    segments = tuple((*where[s.start], *where[s.end]) for s in layout.segments)
    depots = tuple(
        (d.id, *oracle.point(oracle.depot_location(d.id, "depot"))) for d in layout.depots
    )
    xs = [x for x, _ in where.values()] + [d[1] for d in depots]
    ys = [y for _, y in where.values()] + [d[2] for d in depots]
    return Floor(segments=segments, depots=depots, bounds=(min(xs), min(ys), max(xs), max(ys)))


def render(
    summary: Mapping[str, Any],
    waves: Sequence[Mapping[str, Any]],
    floors: Mapping[str, Floor],
) -> str:
    """The report as a self-contained HTML document.

    Parameters
    ----------
    summary
        The contents of ``summary.json``.
    waves
        The records of ``plans/waves.jsonl``.
    floors
        Floor per warehouse id (``floors.json``); a warehouse without one gets maps of its routes
        only.

    Returns
    -------
    str
        The page. The same input always gives the same bytes (no clock, no randomness).

    Notes
    -----
    Stable hooks for tests and scripts:

    * ``id``: ``run-info``, ``plan-date``, ``engine``, ``seed``, ``elapsed``; ``failures`` (only
      when there are failures); ``allocation-totals``, ``total-allocation-savings``,
      ``allocation-<field>`` and ``allocation-<field>-baseline`` for ``shipping-cost``,
      ``packages``, ``unfilled-lines``, ``penalty`` and ``objective``; ``allocation-bound``,
      ``allocation-gap``; ``picking-totals``, ``total-picking-savings``, ``picking-distance``,
      ``picking-baseline-distance``, ``picking-waves``, ``picking-batches``; ``cost-by-fc``,
      ``cost-by-service``, ``unfilled``, ``unserved-lines``, ``warehouses``. Key figures also
      carry their raw value in ``data-value``.
    * rows: ``tr[data-fc]``, ``tr[data-service]``, ``tr[data-reason]``, ``tr[data-task]``,
      ``tr[data-wave]`` (wave tables), ``tr[data-batch]`` (route legends).
    * ``details.warehouse[data-warehouse]``, ``details.wave[data-wave]``,
      ``svg.wave-map[data-wave]`` holding ``polyline.route[data-batch]`` (one per batch, one
      point per path waypoint, y pointing up) and a ``use`` of the warehouse's
      ``g.floor[data-warehouse]`` with its ``path.aisles`` and ``.depot[data-depot]`` markers.
    * ``svg.bar-chart`` with ``g.bar[data-key]`` for the cost breakdowns.
    """
    currency = str(summary.get("currency") or "")
    failures = list(summary.get("failures") or [])
    name = str(summary.get("name", ""))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Replan report: {_e(name)} {_e(summary.get('plan_date', ''))}</title>",
        f"<style>{_CSS}</style>",
        "</head><body>",
        _header(summary, failures),
        _failures(failures),
        _totals(summary, waves, currency),
        _breakdown(summary, currency),
        _unfilled(summary),
        _warehouses(summary, waves, floors),
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def write_report(out_dir: Path) -> Path:
    """Render the report of the run in ``out_dir`` to ``out_dir/report.html``; return its path.

    Reads ``summary.json``, ``plans/waves.jsonl`` and ``floors.json``. A run whose picking failed
    may lack the last two; the report then shows no waves or maps rather than no report. The
    file is written to a temporary name and renamed, so a reader never sees half a report.

    Raises
    ------
    FileNotFoundError
        ``summary.json`` is missing.
    ValueError
        A file that is not valid JSON or a floor that is malformed (naming file and place).
    """
    summary = _read_json(out_dir / "summary.json")
    if not isinstance(summary, Mapping):
        raise ValueError(f"{out_dir / 'summary.json'}: expected a JSON object")
    waves: list[Mapping[str, Any]] = []
    waves_path = out_dir / "plans" / "waves.jsonl"
    if waves_path.exists():
        with waves_path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{waves_path}:{number}: {exc}") from None
                if not isinstance(record, Mapping):
                    raise ValueError(f"{waves_path}:{number}: expected a JSON object")
                waves.append(record)
    floors: dict[str, Floor] = {}
    floors_path = out_dir / "floors.json"
    if floors_path.exists():
        raw = _read_json(floors_path)
        if not isinstance(raw, Mapping):
            raise ValueError(f"{floors_path}: expected a JSON object")
        for warehouse_id, data in raw.items():
            try:
                floors[str(warehouse_id)] = Floor.from_json(data)
            except ValueError as exc:
                raise ValueError(f"{floors_path}: {warehouse_id}: {exc}") from None
    text = render(summary, waves, floors)
    target = out_dir / REPORT_FILE
    fd, tmp = tempfile.mkstemp(prefix=".report.", suffix=".tmp", dir=out_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


# -- formatting ---------------------------------------------------------------------------------


def _e(value: object) -> str:
    """Text from the data, escaped for element content and quoted attributes."""
    return html.escape(str(value), quote=True)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_finite(value: object) -> bool:
    return _number(value) is not None


def _json_list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    if not isinstance(value, list):
        raise ValueError(f"{key}: expected a list, got {value!r}")
    return value


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: {exc}") from None


def _number(value: object) -> float | None:
    """A finite number from the data, or None for a missing or non-numeric value."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def format_money(minor: object, currency: str) -> str:
    """Money from integer minor units: ``$12,345.67`` for USD, else ``12,345.67 EUR``.

    The number of decimals follows ISO 4217 (none for JPY, three for KWD, two otherwise); a
    missing value is a dash.
    """
    value = _number(minor)
    if value is None:
        return _DASH
    code = currency.upper()
    digits = (
        0 if code in _ZERO_DECIMAL_CURRENCIES else 3 if code in _THREE_DECIMAL_CURRENCIES else 2
    )
    whole, fraction = divmod(abs(round(value)), 10**digits)
    text = f"{whole:,}" + (f".{fraction:0{digits}d}" if digits else "")
    text = f"${text}" if code == "USD" else f"{text} {code}".rstrip()
    return f"-{text}" if value < 0 and (whole or fraction) else text


def format_percent(ratio: object) -> str:
    """A ratio as a percentage with one decimal (``0.1234`` -> ``12.3%``); a dash if missing."""
    value = _number(ratio)
    return _DASH if value is None else f"{value * 100:.1f}%"


def format_distance(metres: object) -> str:
    """A walking distance, ``1,234.5 m``; a dash if missing."""
    value = _number(metres)
    return _DASH if value is None else f"{value:,.1f} m"


def format_count(count: object) -> str:
    """A whole number with thousands separators; a dash if missing."""
    value = _number(count)
    return _DASH if value is None else f"{round(value):,}"


def format_elapsed(seconds: object) -> str:
    """A run time: ``12.3 s``, ``4 min 05 s`` or ``1 h 02 min``; a dash if missing."""
    value = _number(seconds)
    if value is None:
        return _DASH
    if value < 60:
        return f"{value:.1f} s"
    whole = round(value)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def _coord(value: float) -> str:
    """A coordinate rounded to 0.1 m, without a trailing ``.0`` or a negative zero."""
    text = f"{round(value, 1):.1f}".removesuffix(".0")
    return "0" if text == "-0" else text


def _data_value(value: object) -> str:
    """A ``data-value`` attribute holding a raw figure (empty when missing)."""
    number = _number(value)
    if number is None:
        return ' data-value=""'
    return f' data-value="{_e(int(number) if number.is_integer() else number)}"'


def _saving_class(ratio: object) -> str:
    value = _number(ratio)
    return "saving negative" if value is not None and value < 0 else "saving"


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


# -- sections -----------------------------------------------------------------------------------


def _header(summary: Mapping[str, Any], failures: Sequence[Any]) -> str:
    links = [
        ("totals", "Totals"),
        ("cost-by-fc", "Cost by FC"),
        ("cost-by-service", "Cost by service"),
        ("unfilled", "Unfilled lines"),
        ("warehouses", "Warehouses"),
    ]
    if failures:
        links.insert(0, ("failures", f"Failures ({len(failures)})"))
    nav = " ".join(f'<a href="#{anchor}">{_e(text)}</a>' for anchor, text in links)
    return (
        f"<header><h1>Replan report: {_e(summary.get('name', ''))}</h1>"
        '<dl class="run" id="run-info">'
        f'<dt>Plan date</dt><dd id="plan-date">{_e(summary.get("plan_date", _DASH))}</dd>'
        f'<dt>Engine</dt><dd id="engine">{_e(summary.get("engine", _DASH))}</dd>'
        f'<dt>Seed</dt><dd id="seed">{_e(summary.get("seed", _DASH))}</dd>'
        f'<dt>Elapsed</dt><dd id="elapsed">{_e(format_elapsed(summary.get("elapsed_s")))}</dd>'
        f'<dt>Currency</dt><dd id="currency">{_e(summary.get("currency", _DASH))}</dd>'
        f"</dl><nav>{nav}</nav></header>"
    )


def _failures(failures: Sequence[Any]) -> str:
    if not failures:
        return ""
    rows = "".join(
        f'<tr data-task="{_e(f.get("task", ""))}"><td>{_e(f.get("task", ""))}</td>'
        f"<td><pre>{_e(f.get('error', ''))}</pre></td></tr>"
        for f in map(_mapping, failures)
    )
    return (
        '<section id="failures" class="failures" role="alert">'
        f"<h2>{len(failures)} task{'s' if len(failures) != 1 else ''} failed</h2>"
        "<p>The figures below leave out what these tasks would have planned.</p>"
        f"<table><thead><tr><th>Task</th><th>Error</th></tr></thead><tbody>{rows}</tbody></table>"
        "</section>"
    )


def _totals(summary: Mapping[str, Any], waves: Sequence[Mapping[str, Any]], currency: str) -> str:
    return (
        '<section id="totals"><h2>Totals and savings</h2><div class="cards">'
        f"{_allocation_totals(_mapping(summary.get('allocation')), currency)}"
        f"{_picking_totals(_mapping(summary.get('picking')), waves)}"
        "</div></section>"
    )


def _allocation_totals(allocation: Mapping[str, Any], currency: str) -> str:
    baseline = _mapping(allocation.get("baseline"))

    def money(value: object) -> str:
        return format_money(value, currency)

    def row(label: str, key: str, fmt: Callable[[object], str]) -> str:
        ident = "allocation-" + key.replace("_", "-")
        ours, theirs = allocation.get(key), baseline.get(key)
        return (
            f'<tr><th>{label}</th><td class=num id="{ident}"{_data_value(ours)}>{_e(fmt(ours))}'
            f'</td><td class=num id="{ident}-baseline"{_data_value(theirs)}>{_e(fmt(theirs))}'
            "</td></tr>"
        )

    savings, ratio = allocation.get("savings"), allocation.get("saving_ratio")
    complete = (
        f"{_e(format_count(allocation.get('orders_complete')))} of "
        f"{_e(format_count(allocation.get('orders')))} orders complete"
    )
    return (
        '<div class="card" id="allocation-card"><h3>Allocation</h3>'
        f'<p>Saving against the nearest FC with stock: <span id="total-allocation-savings" '
        f'class="{_saving_class(ratio)}"{_data_value(savings)}>{_e(money(savings))} '
        f"({_e(format_percent(ratio))})</span></p>"
        '<table id="allocation-totals"><thead><tr><th></th><th class=num>Optimised</th>'
        "<th class=num>Nearest FC with stock</th></tr></thead><tbody>"
        f"{row('Shipping cost', 'shipping_cost', money)}"
        f"{row('Packages', 'packages', format_count)}"
        f"{row('Unfilled lines', 'unfilled_lines', format_count)}"
        f"{row('Unfilled penalty', 'penalty', money)}"
        f"{row('Objective', 'objective', money)}"
        "</tbody></table>"
        f"<p>{complete}. Lower bound "
        f'<span id="allocation-bound"{_data_value(allocation.get("bound"))}>'
        f"{_e(money(allocation.get('bound')))}</span>, gap "
        f'<span id="allocation-gap"{_data_value(allocation.get("gap"))}>'
        f"{_e(format_percent(allocation.get('gap')))}</span>"
        + (
            " (none for a day split into regions: their bounds do not bound the day)"
            if allocation.get("bound") is None and (allocation.get("regions") or 0) > 1
            else ""
        )
        + ".</p></div>"
    )


def _picking_totals(picking: Mapping[str, Any], waves: Sequence[Mapping[str, Any]]) -> str:
    distance, baseline = (
        _number(picking.get("distance_m")),
        _number(picking.get("baseline_distance_m")),
    )
    saved = None if distance is None or baseline is None else baseline - distance
    ratio, batches = picking.get("saving_ratio"), picking.get("batches")
    baseline_batches = sum(int(_number(w.get("baseline_batches")) or 0) for w in waves)
    return (
        '<div class="card" id="picking-card"><h3>Picking</h3>'
        f'<p>Walking saved against FCFS carts on S-shape routes: <span id="total-picking-savings" '
        f'class="{_saving_class(ratio)}"{_data_value(saved)}>{_e(format_distance(saved))} '
        f"({_e(format_percent(ratio))})</span></p>"
        '<table id="picking-totals"><thead><tr><th></th><th class=num>Optimised</th>'
        "<th class=num>FCFS + S-shape</th></tr></thead><tbody>"
        f'<tr><th>Walking distance</th><td class=num id="picking-distance"{_data_value(distance)}>'
        f"{_e(format_distance(distance))}</td>"
        f'<td class=num id="picking-baseline-distance"{_data_value(baseline)}>'
        f"{_e(format_distance(baseline))}</td></tr>"
        f'<tr><th>Carts</th><td class=num id="picking-batches"{_data_value(batches)}>'
        f"{_e(format_count(batches))}</td>"
        f'<td class=num id="picking-baseline-batches"{_data_value(baseline_batches)}>'
        f"{_e(format_count(baseline_batches))}</td></tr>"
        f'<tr><th>Waves</th><td class=num id="picking-waves"{_data_value(picking.get("waves"))}>'
        f"{_e(format_count(picking.get('waves')))}</td><td></td></tr>"
        "</tbody></table></div>"
    )


def _breakdown(summary: Mapping[str, Any], currency: str) -> str:
    allocation = _mapping(summary.get("allocation"))
    return _cost_table(
        "cost-by-fc", "Cost by FC", "FC", "fc", _mapping(allocation.get("cost_by_fc")), currency
    ) + _cost_table(
        "cost-by-service",
        "Cost by carrier service",
        "Carrier service",
        "service",
        _mapping(allocation.get("cost_by_service")),
        currency,
    )


def _cost_table(
    section_id: str,
    title: str,
    column: str,
    data_key: str,
    costs: Mapping[str, Any],
    currency: str,
) -> str:
    """A cost breakdown: a table (largest cost first) and a horizontal bar chart of it."""
    items = sorted(
        ((str(k), _mapping(v)) for k, v in costs.items()),
        key=lambda kv: (-(_number(kv[1].get("cost")) or 0.0), kv[0]),
    )
    total = sum(_number(v.get("cost")) or 0.0 for _, v in items)
    if not items:
        return f'<section id="{section_id}"><h2>{title}</h2><p class="none">none</p></section>'
    rows = "".join(_cost_row(data_key, key, v, total, currency) for key, v in items)
    chart = _bar_chart(
        f"chart-{section_id}",
        title,
        [
            (key, _number(v.get("cost")) or 0.0, format_money(v.get("cost"), currency))
            for key, v in items
        ],
    )
    return (
        f'<section id="{section_id}"><h2>{title}</h2>'
        f"<table><thead><tr><th>{column}</th><th class=num>Packages</th><th class=num>Cost</th>"
        f"<th class=num>Share</th></tr></thead><tbody>{rows}</tbody></table>{chart}</section>"
    )


def _cost_row(
    data_key: str, key: str, entry: Mapping[str, Any], total: float, currency: str
) -> str:
    cost = entry.get("cost")
    share = (_number(cost) or 0.0) / total if total else None
    return (
        f'<tr data-{data_key}="{_e(key)}"><td>{_e(key)}</td>'
        f"<td class=num>{_e(format_count(entry.get('packages')))}</td>"
        f"<td class=num{_data_value(cost)}>{_e(format_money(cost, currency))}</td>"
        f"<td class=num>{_e(format_percent(share))}</td></tr>"
    )


def _bar_chart(chart_id: str, title: str, bars: Sequence[tuple[str, float, str]]) -> str:
    """A horizontal bar chart: one labelled bar per (label, value, value text)."""
    label_w, bar_w, value_w, row_h = 190, 300, 130, 22
    width, height = label_w + bar_w + value_w, row_h * len(bars) + 8
    top = max((v for _, v, _ in bars), default=0.0)
    rows: list[str] = []
    for i, (label, value, text) in enumerate(bars):
        y = 4 + i * row_h
        length = bar_w * max(value, 0.0) / top if top > 0 else 0.0
        short = label if len(label) <= 28 else label[:27] + "\u2026"
        rows.append(
            f'<g class="bar" data-key="{_e(label)}"><title>{_e(label)}: {_e(text)}</title>'
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{_e(short)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{length:.1f}" height="{row_h - 6}"/>'
            f'<text x="{label_w + length + 6:.1f}" y="{y + 15}">{_e(text)}</text></g>'
        )
    return (
        f'<svg class="bar-chart" id="{chart_id}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{_e(title)}">'
        f"{''.join(rows)}</svg>"
    )


def _unfilled(summary: Mapping[str, Any]) -> str:
    allocation = _mapping(summary.get("allocation"))
    by_reason = sorted(
        ((str(k), v) for k, v in _mapping(allocation.get("unfilled_by_reason")).items()),
        key=lambda kv: (-(_number(kv[1]) or 0.0), kv[0]),
    )
    if by_reason:
        rows = "".join(
            f'<tr data-reason="{_e(reason)}"><td>{_e(reason.replace("_", " "))}</td>'
            f"<td class=num{_data_value(lines)}>{_e(format_count(lines))}</td></tr>"
            for reason, lines in by_reason
        )
        table = (
            "<table><thead><tr><th>Reason</th><th class=num>Order lines</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
    else:
        table = '<p class="none">none</p>'
    unserved = _mapping(summary.get("picking")).get("unserved_lines")
    return (
        '<section id="unfilled"><h2>Unfilled order lines</h2>'
        f"<h3>Allocation: lines no FC ships</h3>{table}"
        "<h3>Picking: lines a wave could not serve</h3>"
        f'<p>Order lines not served: <span id="unserved-lines"{_data_value(unserved)}>'
        f"{_e(format_count(unserved))}</span> (listed per wave below).</p></section>"
    )


# -- warehouses and wave maps -------------------------------------------------------------------


def _warehouses(
    summary: Mapping[str, Any],
    waves: Sequence[Mapping[str, Any]],
    floors: Mapping[str, Floor],
) -> str:
    by_warehouse: dict[str, list[Mapping[str, Any]]] = {}
    for wave in waves:
        by_warehouse.setdefault(str(wave.get("warehouse_id", "")), []).append(wave)
    stats = _mapping(_mapping(summary.get("picking")).get("by_warehouse"))
    ids = sorted(set(by_warehouse) | {str(k) for k in stats})
    if not ids:
        return '<section id="warehouses"><h2>Warehouses</h2><p class="none">none</p></section>'
    defs: list[str] = []
    sections: list[str] = []
    for n, warehouse_id in enumerate(ids):
        floor = floors.get(warehouse_id)
        ref = f"floor-{n}"
        if floor is not None:
            defs.append(_floor_def(ref, warehouse_id, floor))
        sections.append(
            _warehouse(
                warehouse_id,
                _mapping(stats.get(warehouse_id)),
                by_warehouse.get(warehouse_id, []),
                floor,
                ref,
            )
        )
    floor_defs = (
        f'<svg class="floor-defs" aria-hidden="true"><defs>{"".join(defs)}</defs></svg>'
        if defs
        else ""
    )
    return f'<section id="warehouses"><h2>Warehouses</h2>{floor_defs}{"".join(sections)}</section>'


def _floor_def(ref: str, warehouse_id: str, floor: Floor) -> str:
    """The floor drawn once per warehouse (y up: SVG y is minus plan y); every map uses it."""
    d = "".join(
        f"M{_coord(x1)} {_coord(-y1)}L{_coord(x2)} {_coord(-y2)}"
        for x1, y1, x2, y2 in floor.segments
    )
    min_x, min_y, max_x, max_y = floor.bounds
    size = max(0.012 * max(max_x - min_x, max_y - min_y), 0.2)
    depots = "".join(
        f'<g class="depot" data-depot="{_e(ident)}"><title>Depot {_e(ident)}</title>'
        f'<rect x="{_coord(x - size)}" y="{_coord(-y - size)}" width="{_coord(2 * size)}" '
        f'height="{_coord(2 * size)}"/><text x="{_coord(x)}" y="{_coord(-y + 3.2 * size)}" '
        f'font-size="{_coord(2 * size)}" text-anchor="middle">{_e(ident)}</text></g>'
        for ident, x, y in floor.depots
    )
    return (
        f'<g id="{ref}" class="floor" data-warehouse="{_e(warehouse_id)}">'
        f'<path class="aisles" d="{d}"/>{depots}</g>'
    )


def _warehouse(
    warehouse_id: str,
    stats: Mapping[str, Any],
    waves: Sequence[Mapping[str, Any]],
    floor: Floor | None,
    ref: str,
) -> str:
    distance = _number(stats.get("distance_m"))
    if distance is None:
        distance = sum(_number(w.get("distance_m")) or 0.0 for w in waves)
    baseline = _number(stats.get("baseline_distance_m"))
    if baseline is None:
        baseline = sum(_number(w.get("baseline_distance_m")) or 0.0 for w in waves)
    ratio = 1 - distance / baseline if baseline else None
    carts = stats.get("batches", sum(len(w.get("batches") or []) for w in waves))
    headline = (
        f"{_e(warehouse_id)}: {_e(format_count(stats.get('waves', len(waves))))} waves, "
        f"{_e(format_count(carts))} carts, {_e(format_distance(distance))} walked against "
        f"{_e(format_distance(baseline))} ({_e(format_percent(ratio))} saved)"
    )
    rows = "".join(_wave_row(w) for w in waves)
    table = (
        '<table class="waves"><thead><tr><th>Wave</th><th class=num>Orders</th>'
        "<th class=num>Carts</th><th class=num>Baseline carts</th><th class=num>Distance</th>"
        "<th class=num>Baseline</th><th class=num>Saving</th><th>Status</th>"
        f"<th class=num>Unserved lines</th></tr></thead><tbody>{rows}</tbody></table>"
        if waves
        else '<p class="none">no waves</p>'
    )
    maps = "".join(_wave_details(w, floor, ref) for w in waves)
    return (
        f'<details class="warehouse" data-warehouse="{_e(warehouse_id)}" open>'
        f"<summary>{headline}</summary>{table}{maps}</details>"
    )


def _wave_saving(wave: Mapping[str, Any]) -> str:
    distance, baseline = _number(wave.get("distance_m")), _number(wave.get("baseline_distance_m"))
    if distance is None or baseline is None:
        return _DASH
    ratio = 1 - distance / baseline if baseline else None
    return f"{format_distance(baseline - distance)} ({format_percent(ratio)})"


def _wave_row(wave: Mapping[str, Any]) -> str:
    wave_id = _e(wave.get("wave_id", ""))
    return (
        f'<tr data-wave="{wave_id}"><td>{wave_id}</td>'
        f"<td class=num>{len(wave.get('order_ids') or [])}</td>"
        f"<td class=num>{len(wave.get('batches') or [])}</td>"
        f"<td class=num>{_e(format_count(wave.get('baseline_batches')))}</td>"
        f"<td class=num>{_e(format_distance(wave.get('distance_m')))}</td>"
        f"<td class=num>{_e(format_distance(wave.get('baseline_distance_m')))}</td>"
        f"<td class=num>{_e(_wave_saving(wave))}</td><td>{_e(wave.get('status', ''))}</td>"
        f"<td class=num>{len(wave.get('unserved') or [])}</td></tr>"
    )


def _colour(k: int) -> str:
    if k < len(_PALETTE):
        return _PALETTE[k]
    return f"hsl({(k * 137.508) % 360:.0f},65%,45%)"


def _path_points(batch: Mapping[str, Any]) -> list[tuple[float, float]]:
    points: list[tuple[float, float]] = []
    for point in batch.get("path") or []:
        if isinstance(point, Sequence) and len(point) >= 2:
            x, y = _number(point[0]), _number(point[1])
            if x is not None and y is not None:
                points.append((x, y))
    return points


def _map_bounds(floor: Floor | None, points: Sequence[tuple[float, float]]) -> Bounds:
    """The floor's bounds grown to hold every route point (a unit square when both are empty)."""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    if floor is not None:
        xs += [floor.bounds[0], floor.bounds[2]]
        ys += [floor.bounds[1], floor.bounds[3]]
    if not xs:
        return (0.0, 0.0, 1.0, 1.0)
    return (min(xs), min(ys), max(xs), max(ys))


def _map_frame(bounds: Bounds) -> str:
    """The ``viewBox``, ``width`` and ``height`` attributes of a map of ``bounds``.

    The viewBox is the bounds plus a margin, with y flipped so that plan y points up; the size
    fits the map into :data:`MAP_BOX_PX` keeping its proportions, so tall and wide floors both
    stay on one screen.
    """
    min_x, min_y, max_x, max_y = bounds
    margin = max(0.04 * max(max_x - min_x, max_y - min_y), 1.0)
    width, height = max_x - min_x + 2 * margin, max_y - min_y + 2 * margin
    scale = min(MAP_BOX_PX[0] / width, MAP_BOX_PX[1] / height)
    return (
        f'viewBox="{_coord(min_x - margin)} {_coord(-max_y - margin)} '
        f'{_coord(width)} {_coord(height)}" width="{round(width * scale)}" '
        f'height="{round(height * scale)}"'
    )


def _wave_details(wave: Mapping[str, Any], floor: Floor | None, ref: str) -> str:
    """One wave: its map (floor, depots, a coloured route per cart), legend and unserved lines."""
    wave_id = _e(wave.get("wave_id", ""))
    batches = [_mapping(b) for b in wave.get("batches") or []]
    paths = [_path_points(b) for b in batches]
    bounds = _map_bounds(floor, [p for path in paths for p in path])
    extent = max(bounds[2] - bounds[0], bounds[3] - bounds[1])
    # Carts walking the same aisle are drawn side by side, a small lane apart, not on top.
    lane = min(max(extent * 0.004, 0.05), 0.3)
    routes: list[str] = []
    legend: list[str] = []
    for k, (batch, path) in enumerate(zip(batches, paths, strict=True)):
        colour = _colour(k)
        shift = (k - (len(batches) - 1) / 2) * lane
        index = _e(batch.get("index", k))
        orders = len(batch.get("order_ids") or [])
        distance = _e(format_distance(batch.get("distance_m")))
        points = " ".join(f"{_coord(x)},{_coord(-y)}" for x, y in path)
        routes.append(
            f'<polyline class="route" data-batch="{index}" points="{points}" stroke="{colour}" '
            f'transform="translate({shift:.2f} {-shift:.2f})">'
            f"<title>Cart {index}: {orders} orders, {distance}</title></polyline>"
        )
        legend.append(
            f'<tr data-batch="{index}"><td><span class="swatch" style="background:{colour}">'
            f"</span> Cart {index}</td><td class=num>{orders}</td>"
            f"<td class=num>{distance}</td></tr>"
        )
    floor_use = f'<use href="#{ref}"/>' if floor is not None else ""
    svg = (
        f'<svg class="wave-map" data-wave="{wave_id}" {_map_frame(bounds)} '
        f'role="img" aria-label="Cart routes of wave {wave_id}">'
        f"{floor_use}{''.join(routes)}</svg>"
    )
    legend_table = (
        '<table class="legend"><thead><tr><th>Cart</th><th class=num>Orders</th>'
        f"<th class=num>Distance</th></tr></thead><tbody>{''.join(legend)}</tbody></table>"
    )
    unserved = [_mapping(u) for u in wave.get("unserved") or []]
    unserved_table = ""
    if unserved:
        rows = "".join(
            f'<tr data-reason="{_e(u.get("reason", ""))}"><td>{_e(u.get("order_id", ""))}</td>'
            f"<td class=num>{_e(u.get('line_index', ''))}</td><td>{_e(u.get('sku', ''))}</td>"
            f"<td class=num>{_e(u.get('quantity', ''))}</td><td>{_e(u.get('reason', ''))}</td>"
            f"<td>{_e(u.get('message', ''))}</td></tr>"
            for u in unserved
        )
        unserved_table = (
            '<table class="unserved"><thead><tr><th>Order</th><th class=num>Line</th><th>SKU</th>'
            "<th class=num>Quantity</th><th>Reason</th><th>Message</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
    return (
        f'<details class="wave" data-wave="{wave_id}"><summary>{wave_id}: '
        f"{len(wave.get('order_ids') or [])} orders, {len(batches)} carts, "
        f"{_e(format_distance(wave.get('distance_m')))} ({_e(_wave_saving(wave))} saved)</summary>"
        f'<div class="wave-body">{svg}{legend_table}</div>{unserved_table}</details>'
    )
