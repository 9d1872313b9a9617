"""The ``axon`` command: the client commands from ``axon.cli_jobs`` (``train``, ``watch``, ``jobs``,
``status``, ``metrics``, ``cancel``) and ``axon.cli_data`` (``datasets``, ``dataset``, ``model``,
``predict``, ``export``), ``axon.cli_evaluation`` (``evaluate``) and ``axon.cli_sweeps`` (``sweep``,
``sweeps``, ``sweep-status``, ``sweep-cancel``), and the server's (``serve``,
``api``, ``worker``, ``db upgrade``, ``settings`` and the operator's ``keys``) from ``service.commands``.

The client commands talk to a server at ``--url``/``AXON_URL`` through :class:`axon.Client` and
need only the base install; the server commands read their configuration from the ``AXON_*``
environment variables (see ``service.settings``) and need the server extra. Heavy imports (Flask,
Celery, Alembic) happen inside the commands, so ``axon --help`` stays quick.
"""

from __future__ import annotations

import click

from axon.cli_data import DATA_COMMANDS
from axon.cli_evaluation import evaluate
from axon.cli_jobs import JOB_COMMANDS
from axon.cli_sweeps import SWEEP_COMMANDS
from service.commands import SERVER_COMMANDS


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="axon", prog_name="axon")
def cli() -> None:
    """Axon: a REST service that trains multi-layer perceptrons."""


# One module per resource for the client's commands, each needing only axon.Client; the server's beside the service.
for command in (*JOB_COMMANDS, *DATA_COMMANDS, evaluate, *SWEEP_COMMANDS, *SERVER_COMMANDS):
    cli.add_command(command)


def main() -> None:
    """The console script's entry point."""
    cli(prog_name="axon")
