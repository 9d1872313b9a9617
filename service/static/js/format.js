// Small helpers the pages share: building DOM safely, numbers, ages, statuses.

const RELATIVE = new Intl.RelativeTimeFormat("en", {numeric: "auto"});
const UNITS = [["year", 31536000], ["month", 2592000], ["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
export const FINISHED = new Set(["succeeded", "failed", "cancelled", "pruned"]);

/** An element with attributes and children; text is always set as text, never parsed as HTML. */
export function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") element.className = value;
    else element.setAttribute(name, value === true ? "" : value);
  }
  element.append(...children.filter((child) => child !== undefined && child !== null));
  return element;
}

/** "3 minutes ago" for an ISO timestamp. */
export function age(iso) {
  if (!iso) return "–";
  const seconds = (Date.parse(iso) - Date.now()) / 1000;
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size || unit === "second") return RELATIVE.format(Math.round(seconds / size), unit);
  }
  return "–";
}

export function number(value, digits = 4) {
  if (value === undefined || value === null) return "–";
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value)) return String(value);
  if (Math.abs(value) >= 1e5 || (Math.abs(value) < 1e-3 && value !== 0)) return value.toExponential(2);
  return String(Number(value.toPrecision(digits))); // 0.03, not 0.03000.
}

export function statusBadge(status) {
  return el("span", {class: `status status-${status}`}, status);
}

/** "2 → 8 tanh → 8 tanh → out" for a spec's layers. */
export function architecture(spec, nFeatures) {
  const hidden = spec.layers.map((layer) => `${layer.units} ${layer.activation}${layer.dropout ? ` (dropout ${layer.dropout})` : ""}`);
  return [nFeatures ?? "in", ...hidden, "out"].join(" → ");
}

/** Key facts of a spec for a definition list. */
export function specFacts(spec) {
  const facts = [
    ["Optimizer", `${spec.optimizer.name}, learning rate ${number(spec.optimizer.learning_rate)}`],
    ["Batch size", spec.batch_size],
    ["Loss", spec.loss],
  ];
  if (spec.l1 || spec.l2) facts.push(["Regularisation", `l1 ${number(spec.l1)}, l2 ${number(spec.l2)}`]);
  return facts;
}

export function renderFacts(list, facts) {
  list.replaceChildren(...facts.flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value)]));
}

/** An upload's columns as the server read them (kind, missing cells, categories or why) and its
 * target's task with the reason: a paragraph and a table, or nothing for a dataset without columns. */
export function schemaView(dataset) {
  if (!dataset.columns) return [];
  const rows = dataset.columns.map((column) => el("tr", {},
    el("td", {}, column.name), el("td", {class: `kind kind-${column.kind}`}, column.kind), el("td", {}, String(column.missing)),
    el("td", {}, column.categories ? column.categories.join(", ") : column.reason)));
  const target = dataset.target;
  return [
    el("p", {class: "schema-target"}, `Target ${target.name} (${target.kind}): ${target.task}, ${target.task_reason}`),
    el("table", {class: "schema"}, el("thead", {}, el("tr", {}, ...["Column", "Kind", "Missing", "Categories or why"]
      .map((title) => el("th", {}, title)))), el("tbody", {}, ...rows)),
  ];
}
