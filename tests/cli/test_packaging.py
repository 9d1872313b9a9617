"""Packaging: ``pip install axon`` is the client and the engine; the server is ``axon[server]``; every
package the code imports is declared, not left to arrive through another one."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from tests.support.isolation import import_with_blocked

from tests.support.processes import clean_env

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# What running the server takes, and what the client must not pull in.
SERVER_PACKAGES = ("flask", "flask_openapi3", "celery", "kombu", "sqlalchemy", "alembic", "psycopg", "waitress",
                   "gunicorn", "redis", "limits", "pyarrow", "onnx", "werkzeug", "pydantic_settings")
# The client side of the axon package: axon.Client and the client commands of the axon command,
# and the server's commands (service/commands), which the axon command loads beside them.
CLIENT_MODULES = ("axon/__init__.py", "axon/client.py", "axon/errors.py", "axon/client_sweeps.py", "axon/cli.py",
                  "axon/cli_common.py", "axon/cli_jobs.py", "axon/cli_sweeps.py",
                  "axon/cli_data.py", "axon/cli_evaluation.py", "axon/progress.py", "service/__init__.py",
                  "service/commands/__init__.py", "service/commands/common.py", "service/commands/serving.py",
                  "service/commands/configuration.py", "service/commands/keys.py", "service/commands/supervisor.py")


def declared(requirements: list[str]) -> set[str]:
    """The normalised distribution names in a list of requirement strings."""
    return {re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.-]+", line).group()).lower() for line in requirements}


def third_party_imports(path: Path, on_import_only: bool = False) -> set[str]:
    """The top-level names of the non-standard, non-Axon modules ``path`` imports: anywhere in it, or
    with ``on_import_only`` those its module body imports (not inside a function, which runs later)."""
    tree = ast.parse(path.read_text())
    names = set()
    for node in (tree.body if on_import_only else ast.walk(tree)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    ours = {"axon", "mlp", "service", "worker", "migrations", "tests", "bench"}
    return {name for name in names if name not in sys.stdlib_module_names and name not in ours}


INSTALLED = packages_distributions()  # Slow (it reads every installed distribution): once.
# Imported only where installed: the gpu extra's CuPy, which a machine without CUDA does not have.
NOT_INSTALLED_HERE = {"cupy": {"cupy-cuda12x"}}


def distributions(module: str) -> set[str]:
    """The normalised names of the installed distributions that provide top-level ``module``."""
    installed = {re.sub(r"[-_.]+", "-", name).lower() for name in INSTALLED.get(module, [])}
    return installed or NOT_INSTALLED_HERE.get(module, set())


def test_the_base_install_holds_no_server_package():
    base = declared(PROJECT["dependencies"])
    server = declared(PROJECT["optional-dependencies"]["server"])
    assert not base & {"flask", "celery", "sqlalchemy", "psycopg", "gunicorn", "waitress", "alembic", "pyarrow"}
    assert {"flask", "celery", "sqlalchemy", "psycopg", "waitress", "alembic"} <= server


def test_every_imported_package_is_declared_and_the_client_needs_only_the_base():
    base = declared(PROJECT["dependencies"])
    everything = base.union(*(declared(extra) for extra in PROJECT["optional-dependencies"].values()))
    client_files = {ROOT / name for name in CLIENT_MODULES} | set((ROOT / "mlp").rglob("*.py"))
    for folder in ("axon", "mlp", "service", "worker", "migrations"):
        for path in (ROOT / folder).rglob("*.py"):
            for module in third_party_imports(path):
                owners = distributions(module)
                assert owners, f"{path.relative_to(ROOT)} imports {module}, which no installed distribution provides"
                assert owners & everything, f"{path.relative_to(ROOT)} imports {module}: declare {sorted(owners)}"
    for path in client_files:
        for module in third_party_imports(path, on_import_only=True):
            assert distributions(module) & base, f"{path.relative_to(ROOT)} (client) imports {module}: not in the base"


def test_the_client_and_its_commands_work_without_the_server_packages(server):
    """The client, against a live server, in an interpreter where no server package can load."""
    completed = import_with_blocked(f"""
from click.testing import CliRunner
from axon import Client
from axon.cli import cli
with Client({server!r}) as client:
    assert client.create_dataset(generator={{"kind": "xor", "n_samples": 20}})["n_samples"] == 20
result = CliRunner().invoke(cli, ["datasets", "--url", {server!r}])
assert result.exit_code == 0 and result.output.startswith("ID"), result.output
result = CliRunner().invoke(cli, ["train", "--help"])
assert result.exit_code == 0 and "--wait" in result.output, result.output
for argv in (["serve", "--port", "1"], ["keys", "list"], ["worker"], ["db", "upgrade"]):
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 1 and "needs the server extra: pip install 'axon[server]'" in result.output, result.output
""", SERVER_PACKAGES, env=clean_env())
    assert completed.stdout.strip() == "ok", completed.stderr
