"""``hangar images``: build the sandbox image when its content changed."""

from __future__ import annotations

import typer

from runtime.cli.common import fail_on_hangar_error

app = typer.Typer(help="Build and inspect sandbox images.", no_args_is_help=True)


@app.command("build")
def build(
    name: str = typer.Argument("default", help="Folder under sandbox_images/."),
    force: bool = typer.Option(False, help="Rebuild even when the image is up to date."),
) -> None:
    """Build the sandbox image unless an image with the same content hash exists."""
    import docker

    from runtime.sandbox.images import ensure_image

    with fail_on_hangar_error():
        ensure_image(docker.from_env(), name, force=force, log=lambda line: typer.echo(line, err=True))
