// One sweep: every trial's objective curve overlaid and fed live by the sweep's event stream, a
// scatter of each sampled value against the objective, the leaderboard with links, and cancel.

import {followEvents, hideProblem, request, showProblem} from "./api.js";
import {age, el, number, renderFacts, statusBadge} from "./format.js";

const sweepId = document.getElementById("sweep-head").dataset.sweepId;
const problem = document.getElementById("problem");
const cancel = document.getElementById("cancel");
const POLL_MS = 2000;
const SWEEP_FINISHED = new Set(["succeeded", "failed", "cancelled"]);
const COLOURS = ["#0877bd", "#f59322", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf"];

const curves = new Map(); // job_id -> Map(epoch -> objective)
const trials = new Map(); // job_id -> the latest trial state (event or leaderboard row)
let sweep = null;
let chart = null;
let chartTrials = []; // The job ids the chart's series stand for, in order.
let redrawQueued = false;

// ---- the sweep -------------------------------------------------------------------------------

function counts(sweep) {
  return Object.entries(sweep.counts).filter(([, count]) => count).map(([status, count]) => `${count} ${status}`).join(", ");
}

function renderSweep(latest) {
  sweep = latest;
  document.getElementById("sweep-status").replaceWith(Object.assign(statusBadge(sweep.status), {id: "sweep-status"}));
  cancel.hidden = SWEEP_FINISHED.has(sweep.status);
  const best = sweep.best;
  renderFacts(document.getElementById("sweep-facts"), [
    ["Strategy", sweep.asha ? `asha (rungs from ${sweep.asha.min_epochs} epochs, ×${sweep.asha.reduction_factor})` : sweep.strategy],
    ["Objective", `${sweep.objective.metric} (${sweep.objective.mode})`],
    ["Trials", `${counts(sweep)} of ${sweep.n_trials}, at most ${sweep.max_parallel} at once`],
    ["Best", best ? el("span", {}, `${number(best.objective)} — trial ${best.trial}, model `,
                             el("a", {href: `/models/${best.model_id}`}, el("code", {}, best.model_id.slice(0, 8)))) : "–"],
    ["Created", age(sweep.created_at)],
  ]);
  document.getElementById("curves-caption").textContent = `${sweep.objective.metric} by epoch, every trial`;
  for (const trial of sweep.leaderboard) trials.set(trial.job_id, trial);
  renderLeaderboard();
  renderScatters();
}

function renderLeaderboard() {
  const body = document.getElementById("leaderboard-body");
  body.replaceChildren(...sweep.leaderboard.map((trial, rank) => el("tr", {"data-job-id": trial.job_id},
    el("td", {}, trial.objective === null ? "" : String(rank + 1)),
    el("td", {}, el("a", {href: `/jobs/${trial.job_id}`}, `trial ${trial.trial}`)),
    el("td", {}, statusBadge(trial.status)),
    el("td", {class: "number"}, number(trial.objective)),
    el("td", {class: "number"}, String(trial.epoch)),
    el("td", {}, Object.entries(trial.sampled).map(([pointer, value]) => `${pointer} = ${shortValue(value)}`).join(", ")),
    el("td", {}, trial.model_id ? el("a", {href: `/models/${trial.model_id}`}, el("code", {}, trial.model_id.slice(0, 8))) : "–"),
  )));
}

function shortValue(value) {
  return typeof value === "number" ? number(value) : JSON.stringify(value);
}

async function poll() {
  try {
    renderSweep(await request(`/v1/sweeps/${sweepId}`));
    hideProblem(problem);
  } catch (error) {
    showProblem(problem, error, "Could not load the sweep");
  }
  if (!sweep || !SWEEP_FINISHED.has(sweep.status) || sweep.counts.running || sweep.counts.cancelling) {
    setTimeout(poll, POLL_MS);
  }
}

cancel.addEventListener("click", async () => {
  cancel.disabled = true;
  try {
    renderSweep(await request(`/v1/sweeps/${sweepId}/cancel`, {method: "POST"}));
  } catch (error) {
    showProblem(problem, error, "Could not cancel the sweep");
  } finally {
    cancel.disabled = false;
  }
});

// ---- overlaid curves -------------------------------------------------------------------------

function buildChart() {
  const element = document.getElementById("curves-chart");
  element.replaceChildren();
  chart?.destroy();
  chartTrials = [...curves.keys()];
  const options = {
    width: element.clientWidth || 600, height: 280, scales: {x: {time: false}}, legend: {show: false},
    axes: [{label: "epoch"}, {label: sweep?.objective.metric ?? "objective", size: 60}],
    series: [{label: "epoch"}, ...chartTrials.map((jobId, index) => ({
      label: `trial ${trials.get(jobId)?.trial ?? index}`, stroke: COLOURS[index % COLOURS.length], width: 1.5,
      points: {show: false}, spanGaps: true,
    }))],
  };
  chart = new uPlot(options, [[], ...chartTrials.map(() => [])], element);
}

function redrawChart() {
  redrawQueued = false;
  if (chartTrials.length !== curves.size) buildChart();
  const epochs = [...new Set([...curves.values()].flatMap((points) => [...points.keys()]))].sort((a, b) => a - b);
  chart.setData([epochs, ...chartTrials.map((jobId) => epochs.map((epoch) => curves.get(jobId).get(epoch) ?? null))]);
  // What the chart now plots, for anyone (the browser test) checking it.
  const element = document.getElementById("curves-chart");
  element.dataset.trials = chartTrials.length;
  element.dataset.points = [...curves.values()].reduce((total, points) => total + points.size, 0);
}

function addEpoch(data) {
  if (!curves.has(data.job_id)) curves.set(data.job_id, new Map());
  curves.get(data.job_id).set(data.epoch, data.objective);
  if (!redrawQueued) {
    redrawQueued = true;
    requestAnimationFrame(redrawChart);
  }
}

// ---- sampled value against the objective -----------------------------------------------------

function renderScatters() {
  const holder = document.getElementById("scatters");
  const pointers = Object.keys(sweep.space).sort();
  const scored = sweep.leaderboard.filter((trial) => trial.objective !== null);
  holder.replaceChildren(...pointers.flatMap((pointer) => {
    const canvas = el("canvas", {width: 320, height: 140, "data-pointer": pointer, "data-points": scored.length});
    drawScatter(canvas, sweep.space[pointer], scored.map((trial) => [trial.sampled[pointer], trial.objective]));
    return [el("p", {class: "scatter-label"}, pointer), canvas];
  }));
}

function drawScatter(canvas, distribution, points) {
  const context = canvas.getContext("2d");
  const {width, height} = canvas;
  const pad = 24;
  context.clearRect(0, 0, width, height);
  context.strokeStyle = "#d1d5db";
  context.strokeRect(pad, 4, width - pad - 4, height - pad - 4);
  if (!points.length) return;
  const choices = distribution.type === "choice" ? distribution.values.map((value) => JSON.stringify(value)) : null;
  const log = distribution.type === "log_uniform";
  const position = (value) => choices ? choices.indexOf(JSON.stringify(value)) : (log ? Math.log(value) : value);
  const [low, high] = choices ? [-0.5, choices.length - 0.5]
    : [position(distribution.low), position(distribution.high)];
  const objectives = points.map(([, objective]) => objective);
  const [bottom, top] = [Math.min(...objectives), Math.max(...objectives)];
  const span = top - bottom || 1;
  context.fillStyle = "#0877bd";
  for (const [value, objective] of points) {
    const x = pad + ((position(value) - low) / (high - low || 1)) * (width - pad - 8);
    const y = 8 + (1 - (objective - bottom) / span) * (height - pad - 12);
    context.beginPath();
    context.arc(x, y, 3, 0, 2 * Math.PI);
    context.fill();
  }
  context.fillStyle = "#6b7280";
  context.font = "10px sans-serif";
  context.fillText(number(top), 0, 12);
  context.fillText(number(bottom), 0, height - pad);
}

// ---- the live stream -------------------------------------------------------------------------

followEvents(`/v1/sweeps/${sweepId}/events`, (event) => {
  const data = JSON.parse(event.data);
  if (event.event === "epoch") addEpoch(data);
  else if (event.event === "trial") trials.set(data.job_id, data);
  else if (event.event === "end") poll();
}, (error) => showProblem(problem, error, "The sweep's live stream stopped"));

poll();
