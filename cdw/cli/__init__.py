"""The ``cdw`` command line: one module per command group, registered here.

A command's module is imported when the command runs (or a help page lists it), not when
``cdw`` starts: ``cdw ingest`` does not pay for the analysis, bundle or enforcement
modules' imports (about half a CPU-second per command), and the cyclic collector is paused
while a command's modules are imported (its full collections there took ~0.3 CPU-seconds).
"""

from __future__ import annotations

import gc
import importlib
from collections.abc import Iterator, MutableMapping

import click
import typer
from pydantic_core import ValidationError
from typer.core import TyperGroup

from cdw.errors import Problem, ValidationFailed


class _LazyCommands(MutableMapping[str, click.Command]):
    """A group's commands: those given as ``"module:attribute"`` (a command function or a
    Typer app) are imported at first use."""

    def __init__(self, loaded: MutableMapping[str, click.Command], lazy: dict[str, str]):
        self._loaded = dict(loaded)
        self._lazy = dict(lazy)

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._loaded and name in self._lazy:
            self._loaded[name] = _import_command(name, self._lazy[name])
        return self._loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        self._lazy.pop(name, None)
        del self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        yield from self._lazy
        yield from (name for name in self._loaded if name not in self._lazy)

    def __len__(self) -> int:
        return len(self._lazy.keys() | self._loaded.keys())


def _import_command(name: str, target: str) -> click.Command:
    module, attribute = target.split(":")
    collecting = gc.isenabled()
    gc.disable()  # imports make many objects and no garbage: full collections free nothing
    try:
        found = getattr(importlib.import_module(module), attribute)
    finally:
        if collecting:
            gc.enable()
    if isinstance(found, typer.Typer):
        command: click.Command = typer.main.get_group(found)
    else:
        single = typer.Typer(add_completion=False)
        single.command(name)(found)
        command = typer.main.get_command(single)
    command.name = name
    return command


def _lazy_group(commands: dict[str, str]) -> type[TyperGroup]:
    class LazyGroup(TyperGroup):
        def __init__(self, **attrs: object) -> None:
            super().__init__(**attrs)  # type: ignore[arg-type]
            self.commands = _LazyCommands(self.commands, commands)

        def invoke(self, ctx: click.Context) -> object:
            try:
                return super().invoke(ctx)
            except ValidationError as exc:
                if exc.title != "Settings":
                    raise
                from cdw.cli.console import fail

                fail(settings_error(exc))

    return LazyGroup


def settings_error(exc: ValidationError) -> ValidationFailed:
    """A setting from the environment (or ``.env``) that ``Settings`` refuses, as one problem
    per variable, named as it is set (``CDW_…``), instead of a traceback."""
    problems = [
        Problem(
            "CDW_" + "_".join(str(part) for part in error["loc"]).upper(),
            f"设置值无效：{error['input']!r}（{error['msg']}）",
            f"invalid value {error['input']!r}: {error['msg']}",
        )
        for error in exc.errors(include_url=False)
    ]
    return ValidationFailed(problems, "设置无效", "Invalid setting")


app = typer.Typer(
    cls=_lazy_group(
        {
            "import": "cdw.cli.registry:import_command",
            "ingest": "cdw.cli.ingest:ingest_command",
            "analyse": "cdw.cli.analyse:analyse_command",
            "load-manifests": "cdw.cli.manifests:load_manifests_command",
            "reconcile": "cdw.cli.manifests:reconcile_command",
            "figures": "cdw.cli.manifests:figures_command",
            "expire-permits": "cdw.cli.manifests:expire_permits_command",
            "serve": "cdw.cli.serve:serve_command",
            "gateway": "cdw.cli.gateway:gateway_command",
            "demo": "cdw.cli.demo:demo_command",
            "db": "cdw.cli.db:db_app",
            "user": "cdw.cli.user:user_app",
            "audit": "cdw.cli.enforcement:audit_app",
            "enforcement": "cdw.cli.enforcement:enforcement_app",
            "roads": "cdw.cli.roads:roads_app",
            "store": "cdw.cli.store:store_app",
        }
    ),
    help="cdw 建筑垃圾运输监管 / construction-waste transport supervision",
    no_args_is_help=True,
)
scenario_app = typer.Typer(
    cls=_lazy_group({"generate": "cdw.cli.scenario:generate_command"}),
    help="模拟场景 / simulated scenarios",
    no_args_is_help=True,
)
bundle_app = typer.Typer(
    cls=_lazy_group({"import": "cdw.cli.bundle:bundle_import_command"}),
    help="数据包 / scenario and data bundles",
    no_args_is_help=True,
)
app.add_typer(scenario_app, name="scenario")
app.add_typer(bundle_app, name="bundle")
