// One job: status and progress, live loss and score curves fed by the job's event stream, the
// decision boundary redrawn as checkpoints arrive, and a cancel button.

import {followEvents, hideProblem, request, showProblem} from "./api.js";
import {drawBoundary, drawLegend} from "./boundary.js";
import {drawNetwork, hoverText} from "./network.js";
import {FINISHED, age, architecture, el, number, renderFacts, specFacts, statusBadge} from "./format.js";

const jobId = document.getElementById("job-head").dataset.jobId;
const problem = document.getElementById("problem");
const cancel = document.getElementById("cancel");
const canvas = document.getElementById("boundary");
const STATUS_POLL_MS = 2000;
const BOUNDARY_MIN_MS = 1000; // At most one boundary request a second while training.

const records = new Map(); // epoch -> record; a resumed job's rewritten epoch replaces the old one.
let job = null;
let dataset = null; // Shown with the job's facts; fetched once.
let charts = null;
let boundaryEpoch = null;
let lastBoundary = null; // Redrawn when a toggle changes.
let lastNetwork = null;
let drawnNetwork = null; // Neurons and links under the pointer.
let networkOff = false;
let streamEpoch = 0; // The newest epoch the event stream (or the metrics catching up) delivered.
let endStatus = null; // The final status the stream's end event gave, before a poll has it.
const networkCanvas = document.getElementById("network");
const showTest = document.getElementById("show-test");
const discretise = document.getElementById("discretise");

// ---- status and facts ----------------------------------------------------------------------

function renderJob(latest) {
  job = latest;
  renderStatus();
  renderProgress(job.epoch);
  renderFacts(document.getElementById("job-facts"), [
    ["Network", architecture(job.spec, dataset?.n_features)],
    ...specFacts(job.spec),
    ["Created", age(job.created_at)],
    ["Training time", `${number(job.train_seconds, 3)} s`],
    ["Attempts", job.attempts],
    ["Dataset", datasetFact()],
    ["Sweep", job.sweep_id ? el("a", {href: `/sweeps/${job.sweep_id}`}, `trial ${job.trial} of sweep ${job.sweep_id.slice(0, 8)}`)
      : el("a", {href: `/sweeps/new?job=${job.id}`, id: "new-sweep"}, "new sweep from this spec")],
  ]);
  const error = document.getElementById("job-error");
  if (job.error) {
    error.replaceChildren(el("strong", {}, `The job ${job.status}: ${job.error.type.replaceAll("_", " ")}`),
                          el("p", {}, job.error.message));
    error.hidden = false;
  } else {
    error.hidden = true;
  }
  const link = document.getElementById("model-link");
  link.hidden = !job.model_id;
  if (job.model_id) link.replaceChildren("Model: ", el("a", {href: `/models/${job.model_id}`}, el("code", {}, job.model_id)));
}

// The badge follows the event stream, as the progress bar does: a poll can be STATUS_POLL_MS old,
// so an epoch finished since a poll that said "queued" means "running", and the end event's
// status shows before the next poll brings it.
function shownStatus() {
  if (FINISHED.has(job.status)) return job.status;
  if (endStatus !== null) return endStatus;
  return job.status === "queued" && streamEpoch > job.epoch ? "running" : job.status;
}

let badgeStatus = null; // The status the badge shows: redrawn only when it changes, not every epoch.

function renderStatus() {
  const status = shownStatus();
  if (status === badgeStatus) return;
  badgeStatus = status;
  document.getElementById("job-status").replaceWith(Object.assign(statusBadge(status), {id: "job-status"}));
  cancel.hidden = !(status === "queued" || status === "running");
}

function datasetFact() {
  if (!job.dataset_id) return "deleted";
  const text = dataset ? `${dataset.name}: ${dataset.n_samples} rows × ${dataset.n_features} features, ${dataset.task}`
    : el("code", {}, job.dataset_id);
  return el("a", {href: `/datasets/${job.dataset_id}`, id: "dataset-link"}, text);
}

function renderProgress(epoch) {
  const epochs = job ? job.epochs : 0;
  const shown = Math.max(epoch, job ? job.epoch : 0);
  document.getElementById("progress-bar").style.width = epochs ? `${Math.min(100, (100 * shown) / epochs)}%` : "0";
  document.getElementById("progress-text").textContent = `epoch ${shown} of ${epochs}`;
}

async function refreshJob() {
  try {
    const latest = await request(`/v1/jobs/${jobId}`);
    if (!dataset && latest.dataset_id) {
      dataset = await request(`/v1/datasets/${latest.dataset_id}`);
      showPlaygroundLink();
    }
    // New weights may be there. The event stream says so too, but it may be waiting out a busy
    // server's Retry-After, and then this poll is what keeps the picture moving.
    const moved = job !== null && (latest.epoch !== job.epoch || latest.status !== job.status);
    renderJob(latest);
    hideProblem(problem);
    if (moved) scheduleBoundary();
  } catch (error) {
    showProblem(problem, error, "Could not load the job");
  }
}

async function showPlaygroundLink() {
  const answer = await request(`/v1/jobs/${jobId}/playground`);
  const link = document.getElementById("playground-link");
  link.hidden = !answer.url;
  if (answer.url) link.href = answer.url;
  else link.title = answer.reasons.join("; ");
}

cancel.addEventListener("click", async () => {
  cancel.disabled = true;
  try {
    renderJob(await request(`/v1/jobs/${jobId}/cancel`, {method: "POST"}));
  } catch (error) {
    showProblem(problem, error, "Could not cancel the job");
  } finally {
    cancel.disabled = false;
  }
});

// ---- curves ----------------------------------------------------------------------------------

function makeChart(element, names, yLabel) {
  element.replaceChildren(); // The "waiting" note.
  const colours = ["#0877bd", "#f59322"];
  const options = {
    width: element.clientWidth || 400,
    height: 220,
    scales: {x: {time: false}},
    axes: [{label: "epoch"}, {label: yLabel, size: 60}],
    series: [{label: "epoch"}, ...names.map((name, index) => ({
      label: name, stroke: colours[index], width: 2, points: {show: false}, spanGaps: true,
      value: (chart, value) => number(value),
    }))],
  };
  const chart = new uPlot(options, [[], ...names.map(() => [])], element);
  new ResizeObserver(() => chart.setSize({width: element.clientWidth, height: 220})).observe(element);
  return chart;
}

function ensureCharts(record) {
  if (charts) return;
  const classification = "accuracy" in record;
  const score = classification ? "accuracy" : "r2";
  document.getElementById("score-caption").textContent = classification ? "Accuracy" : "R²";
  charts = {
    loss: makeChart(document.getElementById("loss-chart"), ["train", "validation"], "loss"),
    score: makeChart(document.getElementById("score-chart"), ["train", "validation"], score),
    keys: {loss: ["loss", "val_loss"], score: [score, `val_${score}`]},
  };
}

let redrawQueued = false;

function redrawCharts() {
  redrawQueued = false;
  const epochs = [...records.keys()].sort((a, b) => a - b);
  for (const name of ["loss", "score"]) {
    const chart = charts[name];
    const columns = charts.keys[name].map((key) => epochs.map((epoch) => records.get(epoch)[key] ?? null));
    chart.setData([epochs, ...columns]);
    // What the chart now plots, for anyone (the browser test) checking one point per epoch.
    chart.root.parentElement.dataset.points = chart.data[0].length;
  }
}

function addRecord(record) {
  ensureCharts(record);
  records.set(record.epoch, record);
  renderProgress(record.epoch);
  streamEpoch = Math.max(streamEpoch, record.epoch);
  if (job) renderStatus();
  if (!redrawQueued) {
    redrawQueued = true;
    requestAnimationFrame(redrawCharts);
  }
  scheduleBoundary();
}

// ---- decision boundary ------------------------------------------------------------------------

let boundaryBusy = false;
let boundaryWanted = false;
let boundaryLast = 0;
let boundaryOff = false;

function scheduleBoundary() {
  if (boundaryOff && networkOff) return;
  boundaryWanted = true;
  if (boundaryBusy) return;
  const wait = Math.max(0, boundaryLast + BOUNDARY_MIN_MS - Date.now());
  boundaryBusy = true;
  setTimeout(fetchBoundary, wait);
}

/** Whether an answer should replace what is drawn. */
function worthDrawing(boundary) {
  // The model is final, even when its weights are an earlier (best) epoch's than a checkpoint drawn.
  if (boundary.source === "model" || boundaryEpoch === null) return true;
  // Fetches may cross, and a job that just succeeded can briefly answer without weights:
  // never draw older weights, or none, over the ones shown.
  return boundary.epoch !== null && boundary.epoch >= boundaryEpoch;
}

/** Which weights the boundary shows, e.g. "weights of epoch 22 (the model: best epoch of 27)". */
function boundaryLabel(boundary) {
  if (boundary.epoch === null) return "(no checkpoint yet: training points only)";
  if (boundary.source === "checkpoint") return `weights of epoch ${boundary.epoch} (checkpoint)`;
  const last = job ? job.epoch : boundary.epoch;
  return `weights of epoch ${boundary.epoch} (the model${boundary.epoch < last ? `: best epoch of ${last}` : ""})`;
}

function toggles() {
  return {showTest: showTest.checked, discretise: discretise.checked};
}

function redrawViews() {
  if (lastBoundary) drawBoundary(canvas, lastBoundary, toggles());
  if (lastNetwork) drawnNetwork = drawNetwork(networkCanvas, lastNetwork, toggles());
}

// A playground import passes on its showTestData and discretize settings.
const asked = new URLSearchParams(location.search);
showTest.checked = asked.get("showTestData") === "true";
discretise.checked = asked.get("discretize") === "true";
showTest.addEventListener("change", redrawViews);
discretise.addEventListener("change", redrawViews);
new ResizeObserver(() => { if (lastNetwork) drawnNetwork = drawNetwork(networkCanvas, lastNetwork, toggles()); })
  .observe(networkCanvas.parentElement);
networkCanvas.addEventListener("mousemove", (event) => {
  const bounds = networkCanvas.getBoundingClientRect();
  const text = drawnNetwork && hoverText(drawnNetwork, event.clientX - bounds.left, event.clientY - bounds.top);
  document.getElementById("network-hover").textContent = text || "Hover a neuron or a link to see its value.";
});

/** Grid cells along each axis for the page's forward pass: 40 for small networks, fewer for big
 * ones, so that one pass stays near 2e7 multiply-adds (tens of milliseconds). */
function networkResolution() {
  const sizes = [dataset?.n_features ?? 2, ...(job?.spec.layers ?? []).map((layer) => layer.units), 1];
  const weights = sizes.slice(1).reduce((total, size, index) => total + size * sizes[index], 0);
  return Math.max(10, Math.min(40, Math.floor(Math.sqrt(2e7 / Math.max(weights, 1)))));
}

async function fetchNetwork() {
  if (networkOff) return;
  try {
    const network = await request(`/v1/jobs/${jobId}/network?resolution=${networkResolution()}`);
    if (!network.layers || !(network.source === "model" || lastNetwork === null || network.epoch >= lastNetwork.epoch)) return;
    lastNetwork = network;
    drawnNetwork = drawNetwork(networkCanvas, network, toggles());
    document.getElementById("network-epoch").textContent = boundaryLabel(network);
    const note = document.getElementById("network-note");
    note.hidden = !network.reason;
    note.textContent = network.reason || "";
  } catch (error) {
    if (error.status === 409 || error.status === 404) {
      networkOff = true;
      const note = document.getElementById("network-note");
      note.textContent = error.message;
      note.hidden = false;
    } else if (!(error.status >= 400)) {
      throw error; // A bug in the drawing, not an answer: let it show.
    }
  }
}

async function fetchBoundary() {
  boundaryWanted = false;
  boundaryLast = Date.now();
  const network = fetchNetwork();
  try {
    if (boundaryOff) return;
    const boundary = await request(`/v1/jobs/${jobId}/boundary`);
    if (worthDrawing(boundary)) {
      boundaryEpoch = boundary.epoch;
      lastBoundary = boundary;
      if (boundary.task === "regression") document.getElementById("boundary-title").textContent = "Predicted value";
      drawBoundary(canvas, boundary, toggles());
      drawLegend(document.getElementById("boundary-legend"), boundary, el);
      document.getElementById("boundary-epoch").textContent = boundaryLabel(boundary);
    }
  } catch (error) {
    if (error.status === 409 || error.status === 404) {
      // A dataset that cannot be drawn (not 2 features, deleted): say why, once, and stop asking.
      boundaryOff = true;
      canvas.hidden = true;
      document.querySelector(".boundary-card .toggles").hidden = true; // Nothing for them to change.
      const note = document.getElementById("boundary-note");
      note.textContent = error.message;
      note.hidden = false;
    }
  } finally {
    await network;
    boundaryBusy = false;
    if (boundaryWanted) scheduleBoundary();
  }
}

// ---- wiring ------------------------------------------------------------------------------------

await refreshJob();
scheduleBoundary();
const statusTimer = setInterval(() => {
  if (job && FINISHED.has(job.status)) clearInterval(statusTimer);
  else refreshJob();
}, STATUS_POLL_MS);

/** While the server has no event stream to spare: the epochs after `lastId` from the metrics pages
 * (the job's status read first, so a finished job's epochs are all there), and whether it ended. */
async function catchUp(lastId) {
  const latest = await request(`/v1/jobs/${jobId}`);
  let path = `/v1/jobs/${jobId}/metrics${lastId === null ? "" : `?after=${lastId}`}`;
  let last = lastId;
  while (path) {
    const page = await request(path);
    for (const record of page.items) {
      addRecord(record);
      last = String(record.epoch);
    }
    path = page.next;
  }
  const done = FINISHED.has(latest.status);
  if (done) ended();
  return {lastId: last, done};
}

function ended(end = null) {
  if (end !== null) {
    endStatus = end.status;
    if (job) renderStatus();
  }
  refreshJob();
  scheduleBoundary(); // The final model, whatever the last checkpoint was.
}

followEvents(`/v1/jobs/${jobId}/events`, (event) => {
  if (event.event === "epoch") addRecord(JSON.parse(event.data));
  if (event.event === "end") ended(JSON.parse(event.data));
}, (error) => showProblem(problem, error, "The job's event stream failed"), catchUp);
