"""The ``hangar`` command. One module per command group; this one only assembles them."""

from __future__ import annotations

import typer

from runtime.cli import agents, images, sandbox

app = typer.Typer(
    name="hangar",
    help="Hangar: a self-hosted runtime for managed AI agents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(sandbox.app, name="sandbox")
app.add_typer(images.app, name="images")
app.add_typer(agents.app, name="agents")


def main() -> None:
    app()
