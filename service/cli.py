"""The `tailorcard` command. Each area registers its commands from its own module below."""
from __future__ import annotations

import sys
from importlib.metadata import entry_points

import click

from features.errors import TailorcardError


class _Group(click.Group):
    """Turns domain errors into one clear line and exit status 2, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except TailorcardError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=_Group)
def main():
    """tailorcard: personalised product cards from a catalogue and shoppers' behaviour."""


@main.group()
def bench():
    """Measure speed and quality; numbers go in the README and model cards."""
    # every bench is the lab's: they join this group through the entry point below, none is the product's


def _register_commands():
    # Imported for their side effect of adding commands to `main` and `bench`.
    from service import cli_catalogue, cli_features  # noqa: F401
    for optional in ("cli_imagegen", "cli_service", "cli_events", "cli_matte", "cli_upscale", "cli_scene"):
        try:
            __import__(f"service.{optional}")
        except ModuleNotFoundError as exc:
            if exc.name != f"service.{optional}":
                raise
    # other packages (the lab) add commands through this entry-point group; the product never imports them
    for plugin in entry_points(group="tailorcard.commands"):
        plugin.load()(main, bench)


_register_commands()


if __name__ == "__main__":
    main()
