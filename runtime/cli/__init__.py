"""The ``hangar`` command. One module per command group; this one only assembles them."""

from __future__ import annotations

import logging

import typer

from runtime.cli import agents, demo, images, interactions, keys, sandbox, serve, triggers
from runtime.cli.agents_push import push
from runtime.cli.common import fail_on_bad_settings
from runtime.cli.gc import gc
from runtime.cli.run import run
from runtime.logs import configure_logging

app = typer.Typer(
    name="hangar",
    help="Hangar: a self-hosted runtime for managed AI agents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what Hangar does (stderr)."),
) -> None:
    configure_logging(logging.INFO if verbose else logging.WARNING)


app.add_typer(sandbox.app, name="sandbox")
app.add_typer(images.app, name="images")
app.add_typer(agents.app, name="agents")
app.add_typer(serve.app, name="serve")
app.add_typer(keys.app, name="keys")
app.command("run")(run)
app.add_typer(interactions.app, name="interactions")
app.add_typer(triggers.app, name="triggers")
app.command("demo")(demo.demo)
app.command("gc")(gc)
agents.app.command("push")(push)


def main() -> None:
    with fail_on_bad_settings():
        app()
