"""The project's one command, ``warehouse``: serve, replan a day, or write a sample day.

- ``warehouse serve [settings]``: every service in one process (``python -m services.server``).
- ``warehouse replan DAY.yaml --out DIR``: allocation, then picking of every wave, from files
  (docs/replan.md); in-process on every core, or ``--engine remote --address dns:///...``.
- ``warehouse sample-day DIR``: a generated day to replan at once.

Exit codes of ``replan``: 0 every task planned; 1 some failed (they are listed, the rest is
written, and running the same command again retries only those); 2 bad input or usage;
130 interrupted (running the same command again resumes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Sequence
from pathlib import Path

#: Exit codes of ``replan``.
OK, FAILED, USAGE, INTERRUPTED = 0, 1, 2, 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="warehouse", description="Warehouse optimisation: services and batch replanning."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "serve",
        help="start every service in one process (settings: warehouse serve --help)",
        add_help=False,
    )
    replan = commands.add_parser(
        "replan",
        help="replan a day from files: allocation, then picking of every wave",
        description="Replan a day from files (see docs/replan.md). Plans, summary.json and "
        "report.html go to --out; an interrupted run resumes from its checkpoint there.",
    )
    replan.add_argument("day", type=Path, help="the day's manifest (day.yaml)")
    replan.add_argument("--out", type=Path, required=True, help="output directory")
    replan.add_argument(
        "--engine",
        choices=("local", "remote"),
        default="local",
        help="local: worker processes on this machine (default); remote: the services at --address",
    )
    replan.add_argument(
        "--workers", type=int, default=None, help="local engine: processes (default: cores)"
    )
    replan.add_argument(
        "--address",
        default=os.environ.get("WAREHOUSE_ADDRESS", ""),
        help="remote engine: host:port or dns:///name:port (every resolved address is used "
        "round-robin); environment variable WAREHOUSE_ADDRESS",
    )
    replan.add_argument(
        "--concurrency", type=int, default=4, help="remote engine: calls in flight (default 4)"
    )
    replan.add_argument(
        "--attempts", type=int, default=6, help="remote engine: tries per call (default 6)"
    )
    replan.add_argument(
        "--token-file",
        type=Path,
        help="remote engine: file holding the bearer token (or WAREHOUSE_TOKEN)",
    )
    replan.add_argument("--tls-ca", type=Path, help="remote engine: PEM CA bundle (TLS)")
    replan.add_argument("--tls-cert", type=Path, help="remote engine: client certificate (mTLS)")
    replan.add_argument("--tls-key", type=Path, help="remote engine: client key (mTLS)")
    replan.add_argument("--tls-server-name", default="", help="name the server cert must carry")
    replan.add_argument(
        "--replace-layouts",
        action="store_true",
        help="remote engine: put the day's layouts where the servers' differ",
    )
    replan.add_argument(
        "--fresh", action="store_true", help="discard the checkpoint in --out and start over"
    )
    replan.add_argument(
        "--no-progress-bar",
        action="store_true",
        help="log lines instead of a progress bar, even on a terminal",
    )
    sample = commands.add_parser("sample-day", help="write a generated day to replan")
    sample.add_argument("out", type=Path, help="directory to write the day into")
    sample.add_argument("--orders", type=int, default=5000, help="orders (default 5000)")
    sample.add_argument("--warehouses", type=int, default=3, help="FCs with a layout (default 3)")
    sample.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    sample.add_argument(
        "--format", choices=("csv", "jsonl", "parquet"), default="csv", help="orders file format"
    )
    sample.add_argument(
        "--plan-date",
        type=dt.date.fromisoformat,
        default=None,
        help="YYYY-MM-DD (default: tomorrow)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``warehouse`` console script."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["serve"]:
        from services import server

        return server.main(args_list[1:])
    args = _parser().parse_args(args_list)
    if args.command == "sample-day":
        return _sample_day(args)
    return _replan(args)


def _sample_day(args: argparse.Namespace) -> int:
    from services.replan.sample import write_sample_day

    plan_date = args.plan_date or dt.date.today() + dt.timedelta(days=1)
    try:
        manifest = write_sample_day(
            args.out,
            orders=args.orders,
            warehouses=args.warehouses,
            seed=args.seed,
            orders_format=args.format,
            plan_date=plan_date,
        )
    except ValueError as exc:
        print(f"warehouse sample-day: error: {exc}", file=sys.stderr)
        return USAGE
    print(
        f"wrote a day of {args.orders} orders and {args.warehouses} warehouses to {args.out}\n"
        f"try next:\n  warehouse replan {manifest} --out {args.out / 'plan'}"
    )
    return OK


def _replan(args: argparse.Namespace) -> int:
    from services.replan import job
    from services.replan.day import DayError, load_day
    from services.replan.engines import (
        Connection,
        Engine,
        LocalEngine,
        RemoteEngine,
        RetryPolicy,
        TaskFailed,
    )
    from services.replan.progress import Progress

    def fail(message: str) -> int:
        print(f"warehouse replan: error: {message}", file=sys.stderr)
        return USAGE

    try:
        day = load_day(args.day)
    except DayError as exc:
        return fail(f"{args.day}:\n{exc}")
    except OSError as exc:
        return fail(str(exc))
    engine: Engine
    if args.engine == "remote":
        from services.allocation_service import MAX_ORDERS as MAX_ALLOCATE
        from services.picking_service import MAX_ORDERS as MAX_WAVE

        if not args.address:
            return fail("--engine remote needs --address (or WAREHOUSE_ADDRESS)")
        if day.allocation.orders_per_region > MAX_ALLOCATE:
            return fail(
                f"allocation.orders_per_region: the servers take at most {MAX_ALLOCATE:,} "
                f"orders per call, got {day.allocation.orders_per_region:,}"
            )
        if day.picking.orders_per_wave > MAX_WAVE:
            return fail(
                f"picking.orders_per_wave: the servers take at most {MAX_WAVE:,} orders per "
                f"wave, got {day.picking.orders_per_wave:,}"
            )
        try:
            token = (
                args.token_file.read_text().strip()
                if args.token_file
                else os.environ.get("WAREHOUSE_TOKEN", "")
            )
            connection = Connection(
                args.address,
                token=token,
                tls_ca=args.tls_ca.read_bytes() if args.tls_ca else None,
                tls_cert=args.tls_cert.read_bytes() if args.tls_cert else None,
                tls_key=args.tls_key.read_bytes() if args.tls_key else None,
                tls_server_name=args.tls_server_name,
            )
        except OSError as exc:
            return fail(str(exc))
        remote = RemoteEngine(
            connection,
            concurrency=args.concurrency,
            retry=RetryPolicy(attempts=max(1, args.attempts)),
            seed=day.seed,
        )
        try:
            put = remote.ensure_layouts(day.layouts, replace=args.replace_layouts)
        except TaskFailed as exc:
            remote.close()
            return fail(str(exc))
        if put:
            print(f"put layouts on the servers: {', '.join(put)}", file=sys.stderr)
        engine = remote
    else:
        engine = LocalEngine(day.layouts, args.workers)
    progress = Progress(sys.stderr, terminal=False if args.no_progress_bar else None)
    try:
        outcome = job.replan(day, engine, args.out, progress, fresh=args.fresh)
    except job.CheckpointMismatch as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        print(
            "\ninterrupted: finished tasks are in the checkpoint; run the same command "
            "again to resume",
            file=sys.stderr,
        )
        return INTERRUPTED
    finally:
        engine.close()
    _print_summary(outcome)
    return OK if outcome.complete else FAILED


def _print_summary(outcome: object) -> None:
    from services.replan.job import Outcome
    from services.replan.report import format_money

    assert isinstance(outcome, Outcome)
    s = outcome.summary
    a, p = s["allocation"], s["picking"]
    currency = s["currency"]
    print(
        f"allocation: {a['orders_planned']}/{a['orders']} orders, {a['packages']} packages, "
        f"objective {format_money(a['objective'], currency)} vs nearest FC "
        f"{format_money(a['baseline']['objective'], currency)} ({a['saving_ratio']:.1%} saved), "
        f"{a['unfilled_lines']} lines unfilled\n"
        f"picking: {p['waves']} waves, {p['batches']} carts, {p['distance_m'] / 1000:,.1f} km vs "
        f"FCFS + S-shape {p['baseline_distance_m'] / 1000:,.1f} km ({p['saving_ratio']:.1%} "
        f"saved)\n"
        f"{outcome.solved} tasks solved, {outcome.resumed} from the checkpoint, "
        f"{len(outcome.failures)} failed; wrote {outcome.out / 'plans'}, "
        f"{outcome.out / 'summary.json'}, {outcome.out / 'report.html'}"
    )
    for task, error in outcome.failures:
        print(f"FAILED {task}: {error}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
