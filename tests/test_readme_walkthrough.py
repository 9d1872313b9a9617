"""The README's curl walk-through, run with curl as written against a live ``axon serve``; each
answer is compared with the ``# -> ...`` line the README shows under its command."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import time

import numpy as np
import pytest

from tests.support.live import live_server

from .test_readme import README

PLACEHOLDER = re.compile(r"<([A-Z]+)>")


def section(heading: str) -> str:
    """The README's text under ``heading``, up to the next section."""
    return README.split(heading, 1)[1].split("\n## ", 1)[0]


def walkthrough(heading: str = "## A walk-through with curl") -> list[tuple[list[str], str | None]]:
    """(curl's words, the README's ``# -> `` line under it or None) for each command of the section's
    ``sh`` blocks (the walk-through's by default)."""
    blocks = re.findall(r"```sh\n(.*?)```", section(heading), flags=re.DOTALL)
    block = "".join(blocks).replace("\\\n", " ")
    steps: list[tuple[list[str], str | None]] = []
    pending = ""  # A command whose quoted -d body goes on over the next lines.
    for line in block.splitlines():
        if not pending and line.startswith("# -> "):
            steps[-1] = (steps[-1][0], line.removeprefix("# -> "))
            continue
        pending += line + "\n"
        try:
            words = shlex.split(pending, comments=True)
        except ValueError:  # No closing quotation yet.
            continue
        if words:
            steps.append((words, None))
        pending = ""
    return steps


def shown_json(shown: str) -> dict:
    """A ``{...}`` the README shows, its ``...`` (fields left out) dropped."""
    return json.loads(re.sub(r",\s*\.\.\.", "", shown))


def curl(words: list[str], url: str, cwd, found: dict[str, str]) -> subprocess.CompletedProcess:
    """Run the README's curl words with its host swapped for the live server's and each <NAME> filled in."""
    words = [PLACEHOLDER.sub(lambda match: found[match.group(1)], word).replace("localhost:8000", url)
             for word in words]
    completed = subprocess.run(words, cwd=cwd, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    return completed


@pytest.mark.slow
def test_the_curl_walkthrough_answers_what_the_readme_shows(tmp_path):
    assert shutil.which("curl"), "the walk-through is curl commands"
    steps = walkthrough()
    assert [words[-1].rsplit("/", 1)[-1] for words, _ in steps][-1] == "weights" and len(steps) == 6
    (dataset, dataset_shown), (job, job_shown), (status, _), (metrics, _), (predict, predict_shown), \
        (weights, _) = steps
    found: dict[str, str] = {}
    with live_server(tmp_path, AXON_AUTH="off") as url:
        answer = json.loads(curl(dataset, url, tmp_path, found).stdout)
        expected = shown_json(dataset_shown)
        assert expected.pop("id") == "<DATASET>"
        assert {name: answer[name] for name in expected} == expected
        found["DATASET"] = answer["id"]

        head, _, body = curl(job, url, tmp_path, found).stdout.replace("\r\n", "\n").partition("\n\n")
        status_line = head.splitlines()[0]
        headers = dict(line.split(": ", 1) for line in head.splitlines()[1:])
        job_id = json.loads(body)["id"]
        assert job_shown.startswith(status_line.strip() + " ... ")  # HTTP/1.1 202 ACCEPTED
        location = re.search(r"Location: (\S+)", job_shown).group(1)
        assert headers["Location"] == location.replace("<JOB>", job_id)
        assert json.loads(body)["status"] == re.search(r'"status": "(\w+)"', job_shown).group(1)
        found["JOB"] = job_id

        deadline = time.monotonic() + 300
        while (current := json.loads(curl(status, url, tmp_path, found).stdout))["status"] not in (
                "succeeded", "failed", "cancelled"):
            assert time.monotonic() < deadline, current
            time.sleep(1)
        assert current["status"] == "succeeded", current
        found["MODEL"] = current["model_id"]
        records = json.loads(curl(metrics, url, tmp_path, found).stdout)["items"]
        assert [record["epoch"] for record in records] == list(range(1, len(records) + 1)) and records

        answer = json.loads(curl(predict, url, tmp_path, found).stdout)
        expected = shown_json(predict_shown)
        print(f"\npredict answered {answer}")
        assert (answer["predictions"], answer["classes"]) == (expected["predictions"], expected["classes"])
        # The README rounds to two decimals.
        np.testing.assert_allclose(answer["probabilities"], expected["probabilities"], atol=0.005 + 1e-9)

        curl(weights, url, tmp_path, found)
        with np.load(tmp_path / "model.npz", allow_pickle=False) as artefact:
            assert artefact.files

        # The Evaluation section's commands, on the same model and dataset: the stored report is
        # the one the README shows (its confusion matrix and accuracy), and both evaluate calls answer.
        shown = section("## Evaluation")
        [(get_model, _), (on_dataset, _), (on_rows, _)] = walkthrough("## Evaluation")
        evaluation = json.loads(curl(get_model, url, tmp_path, found).stdout)["evaluation"]
        print(f"evaluation {evaluation}")
        matrix = json.loads(re.search(r'"confusion_matrix": (\[\[.*?\]\])', shown).group(1))
        accuracy = float(re.search(r'"accuracy": ([\d.]+)', shown).group(1))
        assert (evaluation["evaluated_on"], evaluation["confusion_matrix"]) == ("validation", matrix)
        assert evaluation["accuracy"] == pytest.approx(accuracy, abs=5e-4)
        for words, where in ((on_dataset, "dataset"), (on_rows, "rows")):
            report = json.loads(curl(words, url, tmp_path, found).stdout)
            assert report["evaluated_on"] == where, report
