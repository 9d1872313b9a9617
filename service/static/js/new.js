// The new-job form: a dataset (drawn from a playground generator, picked, or uploaded), hidden
// layers, optimizer and training settings; submits the job and opens its page.

import {hideProblem, request, showProblem} from "./api.js";
import {el, schemaView} from "./format.js";

const form = document.getElementById("job-form");
const layersBody = document.getElementById("layers-body");
const problem = document.getElementById("problem");
const submit = document.getElementById("submit");
const state = document.getElementById("submit-state");
const datasetSelect = document.getElementById("dataset-select");
const DEFAULT_LAYERS = [{units: 8, activation: "tanh"}, {units: 8, activation: "tanh"}];

// ---- a pasted TensorFlow Playground URL ----------------------------------------------------------
// Wired before the awaits below: a click that comes first must not submit the form natively.

const playgroundForm = document.getElementById("playground-form");
const playgroundProblem = document.getElementById("playground-problem");
playgroundForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = document.getElementById("playground-import");
  button.disabled = true;
  try {
    const job = await request("/v1/jobs/from-playground", {method: "POST",
      json: {url: document.getElementById("playground-url").value}});
    // The playground's two display settings become the job page's toggles.
    const pasted = document.getElementById("playground-url").value.replace(/\s+/g, "");
    const shown = ["showTestData", "discretize"].filter((key) => new RegExp(`(^|[#&])${key}=(?!false)[^&]`).test(pasted));
    location.assign(`/jobs/${job.id}${shown.length ? `?${shown.map((key) => `${key}=true`).join("&")}` : ""}`);
  } catch (error) {
    showProblem(playgroundProblem, error, "The playground URL was refused");
  } finally {
    button.disabled = false;
  }
});

// The option lists come from the API's own document, so they follow the engine.
const documentSchemas = (await request("/openapi.json")).components.schemas;
const activations = documentSchemas.LayerSpec.properties.activation.enum;
const kinds = documentSchemas.GeneratorSpec.properties.kind.enum;
const optimizers = Object.keys(documentSchemas.NetworkSpec.properties.optimizer.discriminator.mapping);

function options(select, values, chosen) {
  select.replaceChildren(...values.map((value) => el("option", {value, selected: value === chosen}, value)));
}

options(document.getElementById("generator-kind"), kinds, "spiral");
options(document.getElementById("optimizer"), optimizers, "adam");

function layerRow(layer) {
  const activation = el("select", {class: "activation", "aria-label": "Activation"});
  options(activation, activations, layer.activation);
  const remove = el("button", {type: "button", class: "button small", title: "Remove this layer"}, "Remove");
  const tr = el("tr", {},
    el("td", {class: "index"}),
    el("td", {}, el("input", {class: "units", type: "number", min: 1, value: layer.units, "aria-label": "Units"})),
    el("td", {}, activation),
    el("td", {}, el("input", {class: "dropout", type: "number", min: 0, max: 0.9, step: 0.05, value: 0, "aria-label": "Dropout"})),
    el("td", {}, remove),
  );
  remove.addEventListener("click", () => { tr.remove(); renumber(); });
  return tr;
}

function renumber() {
  [...layersBody.children].forEach((tr, index) => {
    tr.querySelector(".index").textContent = index + 1;
    // Pointers as the API names them, so a refused field can be marked.
    tr.querySelector(".units").dataset.pointer = `/spec/layers/${index}/units`;
    tr.querySelector(".activation").dataset.pointer = `/spec/layers/${index}/activation`;
    tr.querySelector(".dropout").dataset.pointer = `/spec/layers/${index}/dropout`;
  });
}

layersBody.append(...DEFAULT_LAYERS.map(layerRow));
renumber();
document.getElementById("add-layer").addEventListener("click", () => {
  const last = layersBody.lastElementChild;
  layersBody.append(layerRow({units: last ? Number(last.querySelector(".units").value) : 8,
                              activation: last ? last.querySelector(".activation").value : "tanh"}));
  renumber();
});

function source() {
  return form.querySelector("input[name=source]:checked").value;
}

function showSource() {
  for (const panel of form.querySelectorAll(".source-panel")) panel.hidden = panel.dataset.source !== source();
}
form.querySelectorAll("input[name=source]").forEach((radio) => radio.addEventListener("change", showSource));

async function loadDatasets() {
  try {
    const page = await request("/v1/datasets");
    datasetSelect.replaceChildren(...page.items.map((dataset) => el("option", {value: dataset.id},
      `${dataset.name} — ${dataset.task}, ${dataset.n_samples} × ${dataset.n_features} (${dataset.id.slice(0, 8)})`)));
    if (!page.items.length) datasetSelect.append(el("option", {value: ""}, "No datasets yet"));
    await showSchema();
  } catch (error) {
    showProblem(problem, error, "Could not list datasets");
  }
}

// The picked dataset's columns as the upload read them: kind, missing cells, categories or why.
async function showSchema() {
  const holder = document.getElementById("dataset-schema");
  holder.replaceChildren();
  if (!datasetSelect.value) return;
  holder.append(...schemaView(await request(`/v1/datasets/${datasetSelect.value}`)));
}
datasetSelect.addEventListener("change", () => showSchema().catch((error) => showProblem(problem, error, "Could not read the dataset")));

// A number field as JSON: an empty or malformed field becomes null, which the API names by pointer.
function valueOf(input) {
  return Number.isNaN(input.valueAsNumber) ? null : input.valueAsNumber;
}

function numberOf(id) {
  return valueOf(document.getElementById(id));
}

function spec() {
  return {
    layers: [...layersBody.children].map((tr) => ({
      units: valueOf(tr.querySelector(".units")),
      activation: tr.querySelector(".activation").value,
      dropout: valueOf(tr.querySelector(".dropout")),
    })),
    optimizer: {name: document.getElementById("optimizer").value, learning_rate: numberOf("learning-rate")},
    batch_size: numberOf("batch-size"),
    epochs: numberOf("epochs"),
    l1: numberOf("l1"),
    l2: numberOf("l2"),
    validation_split: numberOf("validation-split"),
    seed: numberOf("spec-seed"),
  };
}

// Datasets this page created, by request, so resubmitting after a refused spec does not duplicate one.
const created = new Map();

async function datasetId() {
  if (source() === "existing") return datasetSelect.value;
  if (source() === "generator") {
    const body = {generator: {kind: document.getElementById("generator-kind").value, n_samples: numberOf("generator-samples"),
                              noise: numberOf("generator-noise"), seed: numberOf("generator-seed")}};
    const key = JSON.stringify(body);
    if (!created.has(key)) created.set(key, (await request("/v1/datasets", {method: "POST", json: body})).id);
    return created.get(key);
  }
  const upload = new FormData();
  const file = document.getElementById("upload-file").files[0];
  if (file) upload.append("file", file);
  upload.append("target", document.getElementById("upload-target").value);
  const task = document.getElementById("upload-task").value;
  if (task) upload.append("task", task);
  const columns = document.getElementById("upload-columns").value.trim();
  if (columns) upload.append("columns", columns);
  return (await request("/v1/datasets", {method: "POST", body: upload})).id;
}

function markInvalid(error, prefix) {
  for (const item of error.problem?.errors || []) {
    const pointer = item.pointer && (prefix + item.pointer);
    const field = pointer && form.querySelector(`[data-pointer="${CSS.escape(pointer)}"]`);
    if (field) field.classList.add("invalid");
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  hideProblem(problem);
  form.querySelectorAll(".invalid").forEach((field) => field.classList.remove("invalid"));
  submit.disabled = true;
  let stage = "dataset";
  try {
    state.textContent = "Creating the dataset…";
    const dataset_id = await datasetId();
    stage = "job";
    state.textContent = "Submitting the job…";
    const job = await request("/v1/jobs", {method: "POST", json: {dataset_id, spec: spec()}});
    location.assign(`/jobs/${job.id}`);
  } catch (error) {
    state.textContent = "";
    showProblem(problem, error, stage === "dataset" ? "The dataset was refused" : "The job was refused");
    markInvalid(error, stage === "dataset" ? "/dataset" : "");
  } finally {
    submit.disabled = false;
  }
});

// Generator fields name their pointers inside the dataset request (prefixed "/dataset" above).
for (const [id, name] of [["generator-samples", "n_samples"], ["generator-noise", "noise"], ["generator-seed", "seed"]]) {
  document.getElementById(id).dataset.pointer = `/dataset/generator/${name}`;
}
for (const [id, name] of [["learning-rate", "optimizer/learning_rate"], ["batch-size", "batch_size"], ["epochs", "epochs"],
                          ["l1", "l1"], ["l2", "l2"], ["validation-split", "validation_split"], ["spec-seed", "seed"]]) {
  document.getElementById(id).dataset.pointer = `/spec/${name}`;
}
showSource();
loadDatasets();

