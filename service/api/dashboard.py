"""The web dashboard: HTML pages whose scripts read and write the JSON API under /v1.

The pages hold no data, so they need no API key: each page's module fetches what it shows,
sending the key kept in the browser (see ``static/js/api.js``).
"""

from __future__ import annotations

from flask import Blueprint, render_template, request

blueprint = Blueprint("dashboard", __name__)


@blueprint.get("/")
def jobs_page():
    """Jobs, newest first, with a status filter."""
    return render_template("jobs.html", page="jobs")


@blueprint.get("/new")
def new_job_page():
    """The form that creates a dataset (or picks one) and submits a job on it."""
    return render_template("new.html", page="new")


@blueprint.get("/jobs/<job_id>")
def job_page(job_id: str):
    """One job: progress, live curves, decision boundary, cancel."""
    return render_template("job.html", page="job", job_id=job_id)


@blueprint.get("/sweeps/new")
def new_sweep_page():
    """The form that starts a sweep from a job's dataset and spec (``?job=ID``)."""
    return render_template("sweep_new.html", page="sweep-new", job_id=request.args.get("job", ""))


@blueprint.get("/sweeps/<sweep_id>")
def sweep_page(sweep_id: str):
    """One sweep: every trial's objective curve live, sampled values against the objective, the leaderboard."""
    return render_template("sweep.html", page="sweep", sweep_id=sweep_id)


@blueprint.get("/datasets/<dataset_id>")
def dataset_page(dataset_id: str):
    """One dataset: its size and task, and an upload's columns with the kind each was read as."""
    return render_template("dataset.html", page="dataset", dataset_id=dataset_id)


@blueprint.get("/models/<model_id>")
def model_page(model_id: str):
    """One model: final metrics, weights download, a predict form."""
    return render_template("model.html", page="model", model_id=model_id)
