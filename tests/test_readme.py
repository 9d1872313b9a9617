"""The README stays true: its commands exist and its settings table matches the code."""

import os
import re
import subprocess
from pathlib import Path

from service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_every_setting_is_documented_and_nothing_else():
    documented = set(re.findall(r"^\| `(AXON_[A-Z_]+)` \|", README, flags=re.MULTILINE))
    assert documented == set(Settings.variables())


def test_the_two_commands_are_make_targets_and_ci_runs_the_test_one():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("run", "test"):
        assert f"make {target}" in README
        assert re.search(rf"^{target}:", makefile, flags=re.MULTILINE)
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def command_lines() -> list[list[str]]:
    """The words of every ``axon ...`` command in the README, the image's too (its entry point is axon)."""
    lines = []
    for match in re.finditer(r"(?:^|[`;(]\s*)(axon|docker compose run --rm api) ([a-z][^`;#)\n]*)", README,
                             flags=re.MULTILINE):
        lines.append(match.group(2).split())
    return lines


def test_every_axon_command_in_the_readme_exists():
    import click

    from axon.cli import cli

    lines = command_lines()
    assert len(lines) >= 15
    for words in lines:
        command, path = cli, []
        for word in words:
            if not isinstance(command, click.Group) or word.startswith("-"):
                break
            assert word in command.commands, f"`axon {' '.join(path + [word])}` in README.md is not a command"
            command, path = command.commands[word], path + [word]
        assert not isinstance(command, click.Group), f"`axon {' '.join(path)}` in README.md names no command"


def test_the_readme_puts_axon_on_the_path_as_it_says():
    """The line the README gives, run in a shell whose PATH has no virtual environment, finds ``axon``."""
    [activate] = set(re.findall(r"run `(\. [^`]*activate)` once", README))
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    env.pop("VIRTUAL_ENV", None)
    completed = subprocess.run(["bash", "-c", f"{activate} && command -v axon && axon --version"], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    found, version = completed.stdout.splitlines()
    assert Path(found) == ROOT / ".venv" / "bin" / "axon"
    assert version.startswith("axon, version ")
