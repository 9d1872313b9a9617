"""docker-compose.yml and the Dockerfile, checked without a Docker engine.

Each Axon service's command must be a real ``axon`` command with options click accepts, and each
``AXON_*`` variable must be a real setting, so the stack cannot drift from the code.
"""

from __future__ import annotations

import json

import click
import pytest
import yaml

from axon.cli import cli
from service.settings import Settings

from tests.support.processes import REPO_ROOT

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
# Services built from the Dockerfile run its ENTRYPOINT, `axon`, with `command` as arguments.
AXON_SERVICES = {name: service for name, service in SERVICES.items() if "build" in service}
EXPECTED_COMMAND = {"migrate": "upgrade", "api": "api", "worker": "worker"}


def resolve(argv: list[str]) -> click.Command:
    """The axon command ``argv`` runs, once click has parsed its options (raises on a bad one)."""
    command, context, args = cli, None, list(argv)
    while isinstance(command, click.Group):
        context = click.Context(command, info_name=command.name, parent=context)
        name, *args = args
        command = command.get_command(context, name)
        if command is None:
            raise click.UsageError(f"no such axon command: {name!r} in {argv}")
    command.make_context(command.name, args, parent=context)
    return command


def environment(service: dict) -> dict[str, str]:
    """A service's environment, whether written as a mapping or as KEY=VALUE items."""
    variables = service.get("environment") or {}
    if isinstance(variables, list):
        variables = dict(item.split("=", 1) for item in variables)
    return {name: str(value) for name, value in variables.items()}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) for each Dockerfile line, continuation lines joined."""
    text = (REPO_ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [tuple(line.split(None, 1)) for line in lines if line and not line.startswith("#")]


def test_the_stack_has_its_services():
    assert {"postgres", "redis", "migrate", "api", "worker"} <= set(SERVICES)
    assert set(AXON_SERVICES) == set(EXPECTED_COMMAND)


@pytest.mark.parametrize("name", sorted(EXPECTED_COMMAND))
def test_each_axon_service_runs_a_real_axon_command(name):
    assert resolve(AXON_SERVICES[name]["command"]).name == EXPECTED_COMMAND[name]


@pytest.mark.parametrize("argv", [["serv"], ["db", "upgrad"], ["api", "--wrokers", "2"], ["worker", "--loglevel", "INFO"]])
def test_resolve_refuses_what_axon_would_refuse(argv):
    with pytest.raises(click.UsageError):
        resolve(argv)


def test_every_axon_variable_is_a_setting():
    seen = set()
    for service in SERVICES.values():
        for variable in environment(service):
            if variable.startswith("AXON_"):
                seen.add(variable)
                assert variable in Settings.variables(), variable
    assert {"AXON_DATABASE_URL", "AXON_BROKER_URL"} <= seen


@pytest.mark.parametrize("name", sorted(EXPECTED_COMMAND))
def test_axon_services_use_postgresql_and_redis_of_this_stack(name):
    variables = environment(AXON_SERVICES[name])
    assert variables["AXON_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in variables["AXON_DATABASE_URL"]
    assert variables["AXON_BROKER_URL"].startswith("redis://redis:6379/")


def test_worker_scales():
    """`--scale worker=N` needs no fixed container name and no fixed host port."""
    worker = SERVICES["worker"]
    assert "container_name" not in worker
    assert not worker.get("ports")
    assert "api" not in worker.get("depends_on", {})


def test_start_order_waits_for_health_and_the_migration():
    assert SERVICES["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert SERVICES["migrate"].get("restart") == "no"  # One-shot: never re-run after success.
    for name in ("api", "worker"):
        conditions = {dependency: rule["condition"] for dependency, rule in SERVICES[name]["depends_on"].items()}
        assert conditions == {"postgres": "service_healthy", "redis": "service_healthy",
                              "migrate": "service_completed_successfully"}
    for name in ("postgres", "redis", "api", "worker"):
        assert SERVICES[name]["healthcheck"]["test"], name


def test_only_the_api_publishes_a_port():
    published = {name for name, service in SERVICES.items() if service.get("ports")}
    assert published == {"api"}
    assert SERVICES["api"]["ports"] == ["8000:8000"]
    # The published container port is the one `axon api` listens on, on every interface.
    options = cli.commands["api"].make_context("api", SERVICES["api"]["command"][1:]).params
    assert (options["host"], options["port"]) == ("0.0.0.0", 8000)


def test_dockerfile_builds_a_non_root_axon_image():
    instructions = dockerfile_instructions()
    base_images = [arguments.split()[0] for instruction, arguments in instructions if instruction == "FROM"]
    assert base_images and set(base_images) == {"python:3.11-slim"}
    users = [arguments for instruction, arguments in instructions if instruction == "USER"]
    assert users and users[-1] not in ("root", "0")
    [entrypoint] = [json.loads(arguments) for instruction, arguments in instructions if instruction == "ENTRYPOINT"]
    assert entrypoint == ["axon"]
    [default_command] = [json.loads(arguments) for instruction, arguments in instructions if instruction == "CMD"]
    assert resolve(default_command).name == "serve"
    [install] = [arguments for instruction, arguments in instructions
                 if instruction == "RUN" and "pip install" in arguments]
    assert "[server]" in install  # A bare install is the client only: the image runs the server.


def test_dockerignore_keeps_local_state_out_of_the_image():
    ignored = {line.strip() for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()}
    assert {".git", ".venv", ".axon"} <= ignored
