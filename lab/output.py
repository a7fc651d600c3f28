"""How every lab command prints its result: one JSON object as the last stdout line with --json, else a line a key."""
from __future__ import annotations

import json

import click


def print_result(result: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result))
        return
    for name, value in result.items():
        click.echo(f"{name}: {value}")
