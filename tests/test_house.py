"""House rules that code review alone would let slip (issue #17): the product packages never import the lab, and
every CLI default is one a fresh install has: none points outside the installed project (a fresh install has no
../shared/ data sets), the shipped data and models they name are there, and no command writes under data/
unless given a path there."""
import ast
from pathlib import Path

import click
import pytest

import features
from features.defaults import DEFAULT_MODEL
from features.model_spec import data_dir, embedded_dir
from service.app import DEFAULTS
from service.cli import bench, main

ROOT = Path(__file__).resolve().parents[1]
INSTALLED = Path(features.__file__).resolve().parents[1]  # where the packages (and data/) are installed
PRODUCT = ("features", "recsys", "imagegen", "service")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, dotted name) of every absolute import at any depth (imports inside functions too); a name imported
    from a package counts as its module (`from service import repository` is service.repository)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def product_files() -> list[Path]:
    return sorted(path for package in PRODUCT for path in (ROOT / package).rglob("*.py"))


def test_the_product_packages_never_import_the_lab():
    files = product_files()
    assert len(files) > 50  # the walk found the packages
    offenders = [f"{path.relative_to(ROOT)}:{line} imports {module}" for path in files
                 for line, module in imported_modules(path) if module == "lab" or module.startswith("lab.")]
    assert offenders == []


STORAGE = ("service.repository", "service.db", "sqlalchemy")


def test_views_reach_storage_only_through_use_cases():
    """A view parses, calls one use case (a plain service module) and maps errors: no SQL, tables or repository."""
    views = sorted((ROOT / "service" / "api").glob("*.py"))
    offenders = [f"{path.relative_to(ROOT)}:{line} imports {name}" for path in views
                 for line, name in imported_modules(path)
                 if any(name == module or name.startswith(f"{module}.") for module in STORAGE)]
    assert len(views) > 5 and offenders == []


def commands(group: click.Group, prefix: str = "tailorcard"):
    for name, command in group.commands.items():
        yield f"{prefix} {name}", command
        if isinstance(command, click.Group):
            yield from commands(command, f"{prefix} {name}")


def is_product(command: click.Command) -> bool:
    return command.callback is not None and command.callback.__module__.split(".")[0] in PRODUCT


ALL_COMMANDS = list(commands(main))


def test_the_walk_sees_product_and_lab_commands():
    names = {name for name, _ in ALL_COMMANDS}
    assert {"tailorcard serve", "tailorcard worker", "tailorcard train-encoder", "tailorcard bench recsys",
            "tailorcard bench generator", "tailorcard simulate-ab"} <= names
    assert any(is_product(command) for _, command in ALL_COMMANDS)


@pytest.mark.parametrize("name, command", ALL_COMMANDS, ids=[name for name, _ in ALL_COMMANDS])
def test_no_cli_default_points_outside_the_installed_project(name, command):
    """Product and lab commands alike: a default path is the project's own (the shipped data) or relative to
    where the command runs (runs/, instance/), never a sibling checkout's data sets."""
    for param in command.params:
        default = param.default
        if default is None or callable(default) or isinstance(default, (bool, int, float)):
            continue
        text = str(default)
        assert "../" not in text and "shared/" not in text, f"{name} {param.opts}: default {text}"
        if Path(text).is_absolute():
            assert Path(text).resolve().is_relative_to(INSTALLED), f"{name} {param.opts}: {text} outside {INSTALLED}"


# the only defaults under data/: inputs read, never written (the shipped sample catalogue, the DCGAN baseline)
SHIPPED_INPUTS = {"catalogue_path", "catalogue_dir", "dcgan_dir"}
# the kind of model a spec option's default names ('embedded': the shipped one of that kind)
SPEC_KINDS = {"encoder_spec": "encoder", "generator_spec": "generator", "movq_spec": "generator", "scene_spec": "scene",
              "matte_spec": "matte",
              ("tailorcard bench upscale", "model_spec"): "upscaler", ("tailorcard bench matte", "model_spec"): "matte"}


def path_defaults(command: click.Command):
    for param in command.params:
        if isinstance(param.default, (str, Path)) and str(param.default):
            yield param, Path(param.default)


@pytest.mark.parametrize("name, command", ALL_COMMANDS, ids=[name for name, _ in ALL_COMMANDS])
def test_a_default_under_data_is_a_shipped_input_never_an_output(name, command):
    shipped = data_dir().resolve()
    for param, path in path_defaults(command):
        if path.resolve().is_relative_to(shipped):
            assert param.name in SHIPPED_INPUTS, f"{name} {param.opts}: {path} is under data/"
            assert path.exists(), f"{name} {param.opts}: {path} is not shipped"


@pytest.mark.parametrize("name, command", ALL_COMMANDS, ids=[name for name, _ in ALL_COMMANDS])
def test_every_default_model_is_shipped(name, command):
    for param in command.params:
        if param.default == DEFAULT_MODEL:
            kind = SPEC_KINDS.get(param.name) or SPEC_KINDS[(name, param.name)]
            assert embedded_dir(kind).is_dir(), f"{name} {param.opts}: no shipped {kind} ({embedded_dir(kind)})"


def test_the_app_serves_the_default_encoder():
    assert DEFAULTS["ENCODER"] == DEFAULT_MODEL and embedded_dir("encoder").is_dir()


def test_every_bench_is_the_labs():
    product_benches = [name for name, command in commands(bench, "tailorcard bench") if is_product(command)]
    assert product_benches == []
    for name in ("simulate", "simulate-ab", "simulate-loop", "train-dcgan"):
        assert main.commands[name].callback.__module__.startswith("lab."), name


def test_bench_generator_writes_no_grid_unless_asked():
    grid = next(param for param in bench.commands["generator"].params if param.name == "grid_path")
    assert grid.default is None and not grid.required
