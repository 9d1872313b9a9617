"""The engine's public surface: service/, worker/ and axon/ import from ``mlp`` alone, never from its
modules, so what they rely on is what ``mlp/__init__.py`` exports and nothing else."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mlp

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ("service", "worker", "axon")


def reaches_past_the_surface(source: str) -> list[str]:
    """Each ``from mlp.x import``, ``import mlp.x`` and ``mlp.<name>`` with a name ``mlp`` does not export."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("mlp."):
            found.append(f"line {node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.ImportFrom) and node.module == "mlp":
            found += [f"line {node.lineno}: {alias.name}" for alias in node.names if alias.name not in mlp.__all__]
        elif isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {alias.name}" for alias in node.names if alias.name.startswith("mlp.")]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "mlp" \
                and node.attr not in mlp.__all__:
            found.append(f"line {node.lineno}: mlp.{node.attr}")
    return found


@pytest.mark.parametrize("package", CLIENTS)
def test_clients_of_the_engine_use_only_its_exports(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files
    offences = {str(path.relative_to(ROOT)): found for path in files
                if (found := reaches_past_the_surface(path.read_text()))}
    assert offences == {}


@pytest.mark.parametrize("source", ["from mlp.state import prepare_data", "import mlp.backend",
                                    "import mlp\nmlp.backend.CPU", "from mlp import get_backend"])
def test_the_check_sees_each_way_past_the_surface(source):
    assert reaches_past_the_surface(source)


def test_the_exports_are_the_surface_and_each_exists():
    assert reaches_past_the_surface("import mlp\nfrom mlp import Model, fit\nmlp.fit(mlp.NetworkSpec())") == []
    assert all(hasattr(mlp, name) for name in mlp.__all__)
