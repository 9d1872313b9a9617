"""A longer Schemathesis run over real HTTP: the API under gunicorn, Schemathesis's own CLI.

tests/service/test_schemathesis.py fuzzes the app in process with 40 examples per operation;
this runs the ``schemathesis run`` command against a served API with many more (``--max-examples``,
default 300), every phase (examples, coverage, fuzzing, stateful) and every check, auth on with
a key for the tenant ``fuzz`` (Schemathesis also sends requests without it, expecting 401).

The API runs as ``axon api`` runs it (gunicorn, 2 workers × 16 threads) on a SQLite database and
SQLite broker in a temporary folder; no worker runs, so submitted jobs stay queued. Before the
run it seeds a dataset, a job trained here by the worker's own runner (so a model exists), and a
queued job; the hooks (bench/fuzz_hooks.py) often use their ids. One change to the served app:
an event stream of an unfinished job ends after 2 s instead of an hour (as the in-process test
does), so a stream of a job that will never finish does not hang the run.

Prints Schemathesis's report and writes a JUnit file and pytest reproducers of any failure to
``--report-dir``; exits with Schemathesis's status (0: no failure).

Run: ``make fuzz``, or ``.venv/bin/python bench/fuzz.py [--max-examples N] [--seed N]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
from sqlalchemy import create_engine

# Fuzz the working tree, whatever the venv's (possibly stale) editable install says.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import migrations  # noqa: E402
from service.app_state import app_state  # noqa: E402
from service.commands.supervisor import API_THREADS, create_broker_tables, gunicorn_control_socket  # noqa: E402
from service.auth import create_key  # noqa: E402
from service_processes import REPO, free_port, started, status_of  # noqa: E402
from tests.support.schemathesis_hooks import ACCEPTED_REFUSALS, SEMANTIC_REFUSALS  # noqa: E402

BENCH = Path(__file__).resolve().parent
EVENT_STREAM_SECONDS = 2.0
SPIRAL = {"generator": {"kind": "spiral", "n_samples": 200, "noise": 0.1, "seed": 0}}
SMALL_SPEC = {"layers": [{"units": 8, "activation": "tanh"}], "epochs": 3, "batch_size": 20, "device": "cpu"}


def served_app():
    """The app gunicorn serves here (``fuzz:served_app()``): Axon's, with short event streams."""
    from service import create_app
    from service.api import events

    events.STREAM_SECONDS = EVENT_STREAM_SECONDS
    return create_app()


def config_toml(max_examples: int) -> str:
    """schemathesis.toml: generation, every check, the key from the environment, per-operation statuses."""
    statuses = json.dumps(ACCEPTED_REFUSALS)
    operations = "".join(f'\n[[operations]]\ninclude-name = "{name}"\n'
                         f"checks.positive_data_acceptance.expected-statuses = {statuses}\n"
                         for name in SEMANTIC_REFUSALS)
    return (f'generation.mode = "all"\ngeneration.max-examples = {max_examples}\nrequest-timeout = 30.0\n'
            f'\n[checks]\nenabled = true\n\n[auth.openapi.apiKey]\nbearer = "${{AXON_FUZZ_KEY}}"\n{operations}')


def seed(url: str, key: str, database_url: str, broker_url: str, home: Path) -> tuple[dict[str, list[str]], int]:
    """A dataset, a succeeded job with its model, and a queued job: (their ids by path parameter name,
    the model's feature count)."""
    from service import create_app
    from worker.runner import Outcome, run_job

    logging.getLogger("httpx").setLevel(logging.WARNING)  # One line per seeding request is noise here.

    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
        dataset = client.post("/v1/datasets", json=SPIRAL).json()
        trained, queued = (client.post("/v1/jobs", json={"dataset_id": dataset["id"], "spec": SMALL_SPEC}).json()
                           for _ in range(2))
        # Trained here by the worker's own code, so no Celery worker runs to train what the fuzzer submits.
        app = create_app({"database_url": database_url, "broker_url": broker_url, "home": home})
        with app.app_context():
            outcome = run_job(trained["id"])
        app_state(app).engine.dispose()
        if outcome != Outcome.SUCCEEDED:
            raise RuntimeError(f"the seed job ended {outcome}")
        model_id = client.get(f"/v1/jobs/{trained['id']}").json()["model_id"]
        n_features = client.get(f"/v1/models/{model_id}").json()["n_features"]
    return {"dataset_id": [dataset["id"]], "job_id": [trained["id"], queued["id"]], "model_id": [model_id]}, n_features


def fresh_service(home: Path) -> tuple[dict, str]:
    """A migrated SQLite database and broker under ``home`` and a key: (the API's environment, the key)."""
    database_url, broker_url = f"sqlite:///{home / 'axon.db'}", f"sqla+sqlite:///{home / 'broker.db'}"
    migrations.upgrade(database_url)
    create_broker_tables(broker_url)
    engine = create_engine(database_url)
    key = create_key(engine, "fuzz")
    engine.dispose()
    env = {name: value for name, value in os.environ.items() if not name.startswith("AXON_")}
    # No limit of the tenant's may refuse what the fuzzer sends: it would mask the answers under test.
    env.update(AXON_HOME=str(home), AXON_DATABASE_URL=database_url, AXON_BROKER_URL=broker_url,
               AXON_RATE_LIMIT="1000000/minute", AXON_AUTH_FAILURE_LIMIT="1000000/minute",
               AXON_MAX_ACTIVE_JOBS="1000000", PYTHONPATH=str(REPO))
    return env, key


def schemathesis_argv(url: str, config_path: Path, arguments: argparse.Namespace) -> list[str]:
    argv = [str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(config_path),
            "run", f"{url}/openapi.json", "--phases", "examples,coverage,fuzzing,stateful", "--checks", "all",
            "--report", "junit,pytest", "--report-dir", str(arguments.report_dir)]
    return argv + (["--seed", str(arguments.seed)] if arguments.seed is not None else [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=300, help="examples per operation (default 300)")
    parser.add_argument("--seed", type=int, default=None, help="Hypothesis seed (default: random; printed)")
    parser.add_argument("--report-dir", type=Path, default=REPO / ".axon" / "fuzz-report",
                        help="where the JUnit report and pytest reproducers go (default .axon/fuzz-report)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="axon-fuzz-") as folder:
        home = Path(folder)
        env, key = fresh_service(home)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        argv = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2",
                "--threads", str(API_THREADS), *gunicorn_control_socket(str(home / "gunicorn.ctl")), "fuzz:served_app()"]
        with started(argv, env, home / "gunicorn.log", lambda: status_of(url + "/readyz") == 200, cwd=BENCH):
            ids, n_features = seed(url, key, env["AXON_DATABASE_URL"], env["AXON_BROKER_URL"], home)
            (home / "schemathesis.toml").write_text(config_toml(arguments.max_examples))
            command = schemathesis_argv(url, home / "schemathesis.toml", arguments)
            print(f"$ {' '.join(command)}\n  (seeded ids: {json.dumps(ids)})", flush=True)
            result = subprocess.run(command, env={
                **env, "AXON_FUZZ_KEY": key, "AXON_FUZZ_IDS": json.dumps(ids), "AXON_FUZZ_N_FEATURES": str(n_features),
                "PYTHONPATH": os.pathsep.join([str(BENCH), str(REPO)]), "SCHEMATHESIS_HOOKS": "fuzz_hooks"})
        api_log = (home / "gunicorn.log").read_text(errors="replace").splitlines()
        # An unhandled exception (what a 500 comes from) is logged at ERROR, with its traceback.
        errors = [line for line in api_log if "Traceback" in line or "ERROR" in line]
        print(f"\nThe API's log: {len(api_log)} lines, {len(errors)} with an error", flush=True)
        for line in errors[:50]:
            print("  " + line)
    sys.exit(result.returncode)


if __name__ == "__main__":
    main()
