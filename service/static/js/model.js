// One model: what it was trained on, its final metrics, its weights, and predictions from it.

import {ApiError, hideProblem, request, showProblem} from "./api.js";
import {age, architecture, el, number, renderFacts, specFacts} from "./format.js";

const modelId = document.getElementById("model-head").dataset.modelId;
const problem = document.getElementById("problem");
const predictProblem = document.getElementById("predict-problem");
const input = document.getElementById("predict-input");
const table = document.getElementById("predictions");

let model = null;

function renderModel() {
  renderFacts(document.getElementById("model-facts"), [
    ["Task", model.task],
    ["Features", model.n_features],
    ...(model.classes ? [["Classes", model.classes.join(", ")]] : []),
    ["Network", architecture(model.spec, model.n_features)],
    ...specFacts(model.spec),
    ...(model.epoch !== null ? [["Weights of", weightsOf(model)]] : []),
    ["Job", el("a", {href: `/jobs/${model.job_id}`}, el("code", {}, model.job_id))],
    ["Created", age(model.created_at)],
  ]);
  const rows = Object.entries(model.metrics || {}).filter(([name]) => name !== "epoch").map(([name, value]) =>
    el("tr", {}, el("th", {}, name.replaceAll("_", " ")), el("td", {class: "number"}, number(value))));
  document.querySelector("#metrics-table tbody").replaceChildren(...rows);
  document.getElementById("feature-count").textContent = model.n_features;
  input.value ||= Array(model.n_features).fill("0").join(", ");
  if (model.evaluation) renderEvaluation(model.evaluation);
}

const EVALUATED_ON = {
  validation: "on the validation split",
  training: "on the training split (there was no validation split: rows the network learned from, so optimistic)",
  dataset: "on a dataset",
  rows: "on the given rows",
};

/** The report training stored: its scores, and for a classifier the confusion matrix and per-class scores. */
function renderEvaluation(report) {
  document.getElementById("evaluated-on").textContent = `${EVALUATED_ON[report.evaluated_on]}, ${report.n_samples} rows`;
  const scores = report.task === "classification"
    ? [["accuracy", report.accuracy], ["macro F1", report.macro_f1], ["weighted F1", report.weighted_f1],
       ["log-loss", report.log_loss], ...(report.classes.length === 2 ? [["ROC AUC", report.roc_auc]] : [])]
    : [["MAE", report.mae], ["RMSE", report.rmse], ["R²", report.r2]];
  document.querySelector("#evaluation-table tbody").replaceChildren(...scores.map(([name, value]) =>
    el("tr", {}, el("th", {}, name), el("td", {class: "number"}, number(value)))));
  if (report.task === "classification") renderConfusion(report);
  document.getElementById("evaluation").hidden = false;
}

function renderConfusion(report) {
  const matrix = report.confusion_matrix;
  const largest = Math.max(1, ...matrix.flat());
  const table = document.getElementById("confusion-matrix");
  table.querySelector("thead").replaceChildren(el("tr", {}, el("th", {class: "corner"}, "true \\ predicted"),
    ...report.classes.map((label) => el("th", {class: "number"}, String(label)))));
  table.querySelector("tbody").replaceChildren(...matrix.map((row, trueIndex) => el("tr", {},
    el("th", {}, String(report.classes[trueIndex])),
    ...row.map((count, predictedIndex) => el("td", {
      // Shade by count: the diagonal (right answers) in blue, the rest (mistakes) in orange.
      style: `background: rgba(${trueIndex === predictedIndex ? "8, 119, 189" : "245, 147, 34"}, ${(0.6 * count / largest).toFixed(3)})`,
      "data-count": count,
    }, String(count))))));
  const perClass = document.getElementById("per-class");
  perClass.querySelector("thead").replaceChildren(el("tr", {}, el("th", {}, "class"),
    ...["precision", "recall", "F1", "support"].map((name) => el("th", {class: "number"}, name))));
  perClass.querySelector("tbody").replaceChildren(...report.per_class.map((entry) => el("tr", {},
    el("th", {}, String(entry.label)),
    ...[entry.precision, entry.recall, entry.f1, entry.support].map((value) => el("td", {class: "number"}, number(value, 3))))));
  document.getElementById("confusion").hidden = false;
}

/** "epoch 22 (the best; trained to 27)" when early stopping restored an earlier epoch's weights. */
function weightsOf(model) {
  const last = model.last_metrics ? model.last_metrics.epoch : model.epoch;
  return `epoch ${model.epoch}${last > model.epoch ? ` (the best; trained to ${last})` : ""}`;
}

async function download() {
  try {
    // Through fetch, not a plain link: a link cannot send the API key.
    const blob = await (await request(`/v1/models/${modelId}/weights`, {raw: true})).blob();
    const link = el("a", {href: URL.createObjectURL(blob), download: `axon-model-${modelId}.npz`});
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  } catch (error) {
    showProblem(problem, error, "Could not download the weights");
  }
}

/** The textarea's rows as numbers, or throws naming the first line that is not. */
function parseRows(text) {
  const lines = text.split("\n").map((line) => line.trim()).filter(Boolean);
  return lines.map((line, index) => line.split(/[\s,;]+/).filter(Boolean).map((cell) => {
    const value = Number(cell);
    if (cell === "" || !Number.isFinite(value)) throw new Error(`line ${index + 1}: '${cell}' is not a number`);
    return value;
  }));
}

function renderPredictions(inputs, answer) {
  const classes = answer.classes || [];
  table.querySelector("thead").replaceChildren(el("tr", {}, el("th", {}, "Input"), el("th", {}, "Prediction"),
    ...classes.map((label) => el("th", {class: "number"}, `P(${label})`))));
  table.querySelector("tbody").replaceChildren(...inputs.map((row, index) => el("tr", {},
    el("td", {}, el("code", {}, row.join(", "))),
    el("td", {class: "prediction"}, String(answer.predictions[index])),
    ...(answer.probabilities ? answer.probabilities[index].map((p) => el("td", {class: "number"}, number(p, 3))) : []))));
  table.hidden = false;
}

document.getElementById("predict-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  hideProblem(predictProblem);
  let inputs;
  try {
    inputs = parseRows(input.value);
  } catch (error) {
    showProblem(predictProblem, new ApiError({detail: error.message}), "Not rows of numbers");
    return;
  }
  try {
    renderPredictions(inputs, await request(`/v1/models/${modelId}/predict`, {method: "POST", json: {inputs}}));
  } catch (error) {
    table.hidden = true;
    showProblem(predictProblem, error, "The prediction was refused");
  }
});

document.getElementById("download").addEventListener("click", download);

try {
  model = await request(`/v1/models/${modelId}`);
  renderModel();
} catch (error) {
  showProblem(problem, error, "Could not load the model");
}
