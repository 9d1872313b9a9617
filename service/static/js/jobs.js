// The jobs list: newest first, a status filter kept in the URL, refreshed while jobs are active.

import {hideProblem, request, showProblem} from "./api.js";
import {FINISHED, age, el, number, statusBadge} from "./format.js";

const REFRESH_MS = 2000;
const body = document.getElementById("jobs-body");
const filter = document.getElementById("status-filter");
const more = document.getElementById("jobs-more");
const empty = document.getElementById("jobs-empty");
const problem = document.getElementById("problem");

let nextPage = null;
let pagesShown = 0;

function progressCell(job) {
  const bar = el("div", {class: "progress-bar"});
  bar.style.width = `${Math.round(job.progress * 100)}%`;
  return el("td", {}, el("div", {class: "progress small"}, bar), el("span", {class: "muted"}, ` ${job.epoch}/${job.epochs}`));
}

function row(job) {
  const metrics = job.metrics || {};
  const score = "accuracy" in metrics ? number(metrics.accuracy) : ("r2" in metrics ? `R² ${number(metrics.r2)}` : "–");
  return el("tr", {"data-job-id": job.id, "data-status": job.status},
    el("td", {}, el("a", {href: `/jobs/${job.id}`, title: job.id}, el("code", {}, job.id.slice(0, 8)))),
    el("td", {}, statusBadge(job.status)),
    progressCell(job),
    el("td", {class: "number"}, number(metrics.loss)),
    el("td", {class: "number"}, score),
    el("td", {title: job.created_at}, age(job.created_at)),
    el("td", {}, job.model_id ? el("a", {href: `/models/${job.model_id}`}, el("code", {}, job.model_id.slice(0, 8))) : "–"),
  );
}

function firstPage() {
  return filter.value ? `/v1/jobs?status=${encodeURIComponent(filter.value)}` : "/v1/jobs";
}

async function load(path, append) {
  try {
    const page = await request(path);
    hideProblem(problem);
    if (append) body.append(...page.items.map(row));
    else body.replaceChildren(...page.items.map(row));
    nextPage = page.next;
    pagesShown = append ? pagesShown + 1 : 1;
    more.hidden = !nextPage;
    empty.hidden = body.children.length > 0;
  } catch (error) {
    showProblem(problem, error, "Could not list jobs");
  }
}

function anyActive() {
  return [...body.querySelectorAll("tr")].some((tr) => !FINISHED.has(tr.dataset.status));
}

filter.value = new URLSearchParams(location.search).get("status") || "";
filter.addEventListener("change", () => {
  const url = new URL(location.href);
  if (filter.value) url.searchParams.set("status", filter.value);
  else url.searchParams.delete("status");
  history.replaceState(null, "", url);
  load(firstPage(), false);
});
more.addEventListener("click", () => load(nextPage, true));

await load(firstPage(), false);
setInterval(() => {
  // Only the first page is refreshed: reloading it would drop pages the user asked for.
  if (pagesShown === 1 && (anyActive() || body.children.length === 0)) load(firstPage(), false);
}, REFRESH_MS);
