"""The ``cdw`` command line: one module per command group, registered here."""

from __future__ import annotations

import typer

from cdw.cli.analyse import analyse_command
from cdw.cli.bundle import bundle_import_command
from cdw.cli.db import db_app
from cdw.cli.demo import demo_command
from cdw.cli.enforcement import audit_app, enforcement_app
from cdw.cli.gateway import gateway_command
from cdw.cli.ingest import ingest_command
from cdw.cli.manifests import (
    expire_permits_command,
    figures_command,
    load_manifests_command,
    reconcile_command,
)
from cdw.cli.registry import import_command
from cdw.cli.roads import roads_app
from cdw.cli.scenario import generate_command
from cdw.cli.serve import serve_command
from cdw.cli.store import store_app
from cdw.cli.user import user_app

app = typer.Typer(
    help="cdw 建筑垃圾运输监管 / construction-waste transport supervision", no_args_is_help=True
)
scenario_app = typer.Typer(help="模拟场景 / simulated scenarios", no_args_is_help=True)
bundle_app = typer.Typer(help="数据包 / scenario and data bundles", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(scenario_app, name="scenario")
app.add_typer(audit_app, name="audit")
app.add_typer(enforcement_app, name="enforcement")
app.add_typer(roads_app, name="roads")
app.add_typer(bundle_app, name="bundle")
app.add_typer(store_app, name="store")
scenario_app.command("generate")(generate_command)
bundle_app.command("import")(bundle_import_command)
app.command("import")(import_command)
app.command("ingest")(ingest_command)
app.command("analyse")(analyse_command)
app.command("load-manifests")(load_manifests_command)
app.command("reconcile")(reconcile_command)
app.command("figures")(figures_command)
app.command("expire-permits")(expire_permits_command)
app.command("serve")(serve_command)
app.command("gateway")(gateway_command)
app.command("demo")(demo_command)
