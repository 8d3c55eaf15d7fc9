"""`mesh`: the command line of the platform. Thin: every command calls one function of the package.

It starts fast: this module imports only the standard library, ``config`` and ``errors`` at
module level; each command imports what it needs (the database driver, dbt, Airflow, Great
Expectations, pandas) when it runs. tests/cli/test_startup.py holds it to that.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

from meshplatform.config import Settings, disable_telemetry
from meshplatform.errors import MeshError


def _settings() -> Settings:
    return Settings.from_env()


def cmd_db(args: argparse.Namespace) -> None:
    from meshplatform.orchestration.setup import embedded_server, warehouse

    settings = _settings()
    if settings.database_url:
        raise MeshError("MESH_DATABASE_URL is set: the platform uses that server and runs no embedded one")
    server = embedded_server(settings)
    if args.action == "start":
        info = warehouse(settings, start=True)
        print(f"embedded Postgres running: {info.display} (data in {settings.pgdata_dir})")
    elif args.action == "stop":
        print("stopped" if server.stop() else "not running")
    else:
        print(
            "running" if server.is_running() else "not running",
            f"({settings.pgdata_dir}, port {settings.embedded_port})",
        )


def cmd_env(args: argparse.Namespace) -> None:
    """Shell exports for a domain team's own dbt: its login only (nothing of other domains, nor the admin's)."""
    from meshplatform import domains
    from meshplatform.dbt.registry import runtime_env
    from meshplatform.orchestration.setup import setup_warehouse, warehouse

    settings = _settings()
    info = warehouse(settings, start=True)
    if args.domain:
        name = domains.get(settings.domains_dir, args.domain).name
        info = setup_warehouse(settings).domain(name)
    for key, value in runtime_env(settings, info, args.domain).items():
        print(f"export {key}={shlex.quote(value)}")


def cmd_setup(args: argparse.Namespace) -> None:
    from meshplatform.orchestration.setup import setup_warehouse, warehouse

    warehouse(_settings(), start=True)
    setup_warehouse(_settings())
    print("warehouse set up: every domain's login role, schemas and grants; credentials in $MESH_HOME/secrets")


def cmd_generate(args: argparse.Namespace) -> None:
    from meshplatform.sample_data.generator import generate

    out = _settings().exports_dir
    _refuse_to_mix(out, args)
    truth = generate(out, size=args.size, days=args.days, seed=args.seed)
    print(
        f"wrote {sum(len(f) for f in truth.files.values())} export files to {out}: "
        f"{truth.describe()} (ground truth: {out / 'ground_truth.json'})"
    )


def _refuse_to_mix(out: Path, args: argparse.Namespace) -> None:
    """Exports of other parameters would be loaded together with the new ones: refuse, or with
    --force remove them first."""
    from meshplatform.sample_data.generator import GROUND_TRUTH_FILE, GroundTruth

    if not (out / GROUND_TRUTH_FILE).exists():
        return
    old = GroundTruth.load(out)
    if (old.size, old.days, old.seed) == (args.size, args.days, args.seed):
        return
    if not getattr(args, "force", False):
        raise MeshError(
            f"{out} holds exports of size {old.size}, {old.days} days, seed {old.seed}; "
            "loading new ones beside them would mix two data sets",
            hint="`make clean` starts over (warehouse included); `mesh generate --force` replaces the exports only",
        )
    for files in old.files.values():
        for name in files:
            (out / name).unlink(missing_ok=True)


def _each_domain(names: list[str], action: Callable[[str], object]) -> None:
    from meshplatform import domains

    settings = _settings()
    selected = [domains.get(settings.domains_dir, n) for n in names] or domains.discover(settings.domains_dir)
    for domain in selected:
        action(domain.name)


def cmd_load(args: argparse.Namespace) -> None:
    from meshplatform.orchestration import steps as pipeline
    from meshplatform.orchestration.progress import LoadProgress

    pipeline.warehouse(_settings(), start=True)
    _each_domain(args.domains, lambda name: pipeline.load_domain(name, progress=LoadProgress()))


def cmd_validate(args: argparse.Namespace) -> None:
    from meshplatform.orchestration import steps as pipeline

    pipeline.warehouse(_settings(), start=True)
    _each_domain(args.domains, pipeline.validate_domain)


def cmd_publish(args: argparse.Namespace) -> None:
    from meshplatform.orchestration import steps as pipeline

    _each_domain(args.domains, pipeline.publish_domain)


def cmd_contracts(args: argparse.Namespace) -> None:
    from meshplatform.contracts import checks as contract_checks

    settings = _settings()
    if args.action == "lint":
        report = contract_checks.lint(settings.contracts_dir)
    elif args.action == "check":
        report = contract_checks.check(settings)
    else:
        from meshplatform.contracts.breaking import breaking

        report = breaking(settings, args.base)
    print(contract_checks.render(report))
    if not report.ok:
        problems = f"contracts {args.action}: {len(report.findings)} problem(s)"
        raise MeshError(problems, hint=contract_checks.HINTS[args.action])


def cmd_domains(args: argparse.Namespace) -> None:
    from meshplatform import domains

    for domain in domains.discover(_settings().domains_dir):
        upstream = ", ".join(domain.upstream) or "-"
        print(f"{domain.name:15} {domain.path}  (reads: {upstream})")


def cmd_airflow(args: argparse.Namespace) -> None:
    from meshplatform.orchestration import runner as orchestration
    from meshplatform.orchestration import steps as pipeline

    settings = _settings()
    if args.action == "init":
        orchestration.init_airflow(settings)
        print("Airflow metadata DB is migrated")
        return
    pipeline.warehouse(settings, start=True)
    pipeline.setup_warehouse(settings)
    _each_domain([], pipeline.publish_domain)
    password_file = settings.airflow_home / "simple_auth_manager_passwords.json.generated"
    print(f"starting Airflow on http://localhost:8080 (user admin; password in {password_file})", flush=True)
    orchestration.standalone(settings)


def cmd_build(args: argparse.Namespace) -> None:
    from meshplatform.orchestration import steps as pipeline
    from meshplatform.orchestration.runner import init_airflow, run_mesh_build_logged

    settings = _settings()
    pipeline.warehouse(settings, start=True)
    pipeline.setup_warehouse(settings)  # the Connections the dbt tasks log in with
    init_airflow(settings)
    _each_domain([], pipeline.publish_domain)
    print("running mesh_build (Airflow dag.test)", flush=True)
    outcome, log = run_mesh_build_logged(settings)
    print(f"mesh_build run {outcome.run_id}: {outcome.state} (full log: {log})")
    if outcome.state != "success":
        raise MeshError(
            f"mesh_build failed; failed or not run: {', '.join(outcome.failed_tasks) or 'see the log'}",
            hint=f"the error of each failed task is printed above; full log: {log}",
        )


def cmd_summary(args: argparse.Namespace) -> None:
    from meshplatform.orchestration.setup import read_with_logins, warehouse
    from meshplatform.reporting.summary import build_summary

    settings = _settings()
    warehouse(settings, start=True)
    print(read_with_logins(settings, lambda logins: build_summary(settings, logins)))


def cmd_report(args: argparse.Namespace) -> None:
    from meshplatform.orchestration.setup import setup_warehouse, warehouse
    from meshplatform.reporting.report import build_report

    settings = _settings()
    warehouse(settings, start=True)
    out = build_report(settings, setup_warehouse(settings), settings.report_path)
    print(f"report: {out} (self-contained HTML, opens offline)")


def cmd_catalog(args: argparse.Namespace) -> None:
    from meshplatform.orchestration.setup import setup_warehouse, warehouse
    from meshplatform.reporting.catalog_page import write_catalog

    settings = _settings()
    warehouse(settings, start=True)
    page = write_catalog(settings, setup_warehouse(settings).bookkeeper())
    print(f"catalog: {page} (and catalog.json beside it; self-contained HTML, opens offline)")


def cmd_demo(args: argparse.Namespace) -> None:
    from meshplatform.orchestration.setup import warehouse
    from meshplatform.sample_data.generator import GroundTruth

    settings = _settings()
    info = warehouse(settings, start=True)
    print(f"warehouse: {info.display}")
    # Deterministic: the same files byte for byte, which the load ledger then skips.
    cmd_generate(args)
    cmd_build(args)
    print()
    cmd_summary(args)
    truth = GroundTruth.load(settings.exports_dir)
    print(f"\nGround truth of the exports: {truth.describe()}.")
    cmd_report(args)
    cmd_catalog(args)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mesh", description="The data mesh platform.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    db = sub.add_parser("db", help="start, stop or inspect the embedded Postgres")
    db.add_argument("action", choices=["start", "stop", "status"])
    db.set_defaults(func=cmd_db)

    env = sub.add_parser("env", help="print shell exports for running a domain's dbt by hand")
    env.add_argument("domain", nargs="?", help="the domain whose login to print (without: no credentials)")
    env.set_defaults(func=cmd_env)
    sub.add_parser("setup", help="create the login roles, schemas and grants").set_defaults(func=cmd_setup)

    def sizing(p: argparse.ArgumentParser) -> None:
        p.add_argument("--size", type=_positive, default=20_000, help="sample data size (default 20000)")
        p.add_argument("--days", type=_positive, default=5, help="daily export files per domain (default 5)")
        p.add_argument("--seed", type=int, default=42)

    generate = sub.add_parser("generate", help="write deterministic sample exports to $MESH_HOME/exports")
    sizing(generate)
    generate.add_argument("--force", action="store_true", help="replace exports of other parameters")
    generate.set_defaults(func=cmd_generate)

    for name, func, text in [
        ("load", cmd_load, "load the domains' export files into their raw schemas"),
        ("validate", cmd_validate, "validate the raw tables with Great Expectations"),
        ("publish", cmd_publish, "parse the domains and publish their manifests to the registry"),
    ]:
        p = sub.add_parser(name, help=text)
        p.add_argument("domains", nargs="*", help="domain names (default: all, upstream first)")
        p.set_defaults(func=func)

    contracts = sub.add_parser("contracts", help="lint the contracts, check dbt against them, refuse breaking changes")
    contracts.add_argument(
        "action", choices=["lint", "check", "breaking"],
        help="lint: ODCS schema; check: dbt models vs contracts; breaking: changes since --base",
    )  # fmt: skip
    contracts.add_argument("--base", metavar="REV", help="git revision to compare with (default: merge base with main)")
    contracts.set_defaults(func=cmd_contracts)
    sub.add_parser("domains", help="list the domains and what they read").set_defaults(func=cmd_domains)
    airflow = sub.add_parser("airflow", help="Airflow helpers")
    airflow.add_argument(
        "action", choices=["init", "standalone"], help="init: migrate the metadata DB; standalone: UI + scheduler"
    )
    airflow.set_defaults(func=cmd_airflow)
    sub.add_parser("build", help="run the mesh_build DAG once (dag.test)").set_defaults(func=cmd_build)
    sub.add_parser("summary", help="what has been loaded, quarantined, built and tested").set_defaults(func=cmd_summary)
    sub.add_parser("report", help="write the HTML report of the published products").set_defaults(func=cmd_report)
    sub.add_parser(
        "catalog", help="write the catalogue of data products (owners, SLAs, freshness, quality, lineage)"
    ).set_defaults(func=cmd_catalog)
    demo = sub.add_parser("demo", help="generate exports, build the whole mesh through Airflow, summarise")
    sizing(demo)
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    disable_telemetry()
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except MeshError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a database refusal is the user's to fix too: say it without a traceback
        import psycopg

        from meshplatform.warehouse.sqlstate import explain

        if not isinstance(exc, psycopg.Error):
            raise
        message, hint = explain(exc)
        print(f"error: the database refused: {message}\n  hint: {hint}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
