// The new-sweep form: a job's dataset and spec as the base, a space, a strategy; it posts the
// sweep and opens its page.

import {hideProblem, request, showProblem} from "./api.js";

const jobId = document.getElementById("sweep-new-head").dataset.jobId;
const problem = document.getElementById("problem");
const specField = document.getElementById("sweep-spec");
let datasetId = null;

async function loadJob() {
  if (!jobId) {
    showProblem(problem, new Error("open this page from a job (its “new sweep” link)"), "No job to start from");
    return;
  }
  try {
    const job = await request(`/v1/jobs/${jobId}`);
    datasetId = job.dataset_id;
    specField.value = JSON.stringify(job.spec, null, 2);
    document.getElementById("sweep-from").textContent = `The dataset and spec of job ${jobId.slice(0, 8)}; every trial starts from this spec.`;
  } catch (error) {
    showProblem(problem, error, "Could not load the job");
  }
}

function parsed(field, name) {
  try {
    return JSON.parse(field.value);
  } catch (error) {
    throw new Error(`${name} is not JSON: ${error.message}`);
  }
}

document.getElementById("sweep-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const submit = document.getElementById("sweep-submit");
  submit.disabled = true;
  try {
    const body = {
      dataset_id: datasetId ?? "",
      spec: parsed(specField, "The spec"),
      space: parsed(document.getElementById("sweep-space"), "The space"),
      strategy: document.getElementById("sweep-strategy").value,
      max_parallel: Number(document.getElementById("sweep-parallel").value),
      seed: Number(document.getElementById("sweep-seed").value),
      objective: {metric: document.getElementById("sweep-objective").value},
    };
    const trials = document.getElementById("sweep-trials").value;
    if (trials) body.n_trials = Number(trials);
    const sweep = await request("/v1/sweeps", {method: "POST", json: body});
    hideProblem(problem);
    window.location.assign(`/sweeps/${sweep.id}`);
  } catch (error) {
    showProblem(problem, error, "The sweep was not started");
  } finally {
    submit.disabled = false;
  }
});

loadJob();
