// The JSON API under /v1 (same origin). When localStorage["axon.key"] holds an API key it is sent
// as a bearer token; a 401 shows the key field in the top bar and retries once a key is saved.

const KEY_STORAGE = "axon.key";

/**
 * A problem+json answer (RFC 9457) as an exception: `problem` has title, status, detail, errors;
 * `retryAfter` is the Retry-After header in seconds (a 429 or a busy 503), or null.
 */
export class ApiError extends Error {
  constructor(problem, retryAfter = null) {
    super(problem.detail || problem.title || `HTTP ${problem.status}`);
    this.problem = problem;
    this.status = problem.status;
    this.retryAfter = retryAfter;
  }
}

/** Retry-After in seconds (RFC 9110 §10.2.3: a number of seconds or an HTTP date), or null. */
function retryAfterSeconds(response) {
  const value = (response.headers.get("Retry-After") || "").trim();
  if (!value) return null;
  if (/^\d+$/.test(value)) return Number(value);
  const when = Date.parse(value);
  return Number.isNaN(when) ? null : Math.max(0, (when - Date.now()) / 1000);
}

function withKey(headers) {
  const merged = new Headers(headers);
  const key = localStorage.getItem(KEY_STORAGE);
  if (key) merged.set("Authorization", `Bearer ${key}`);
  return merged;
}

async function problemOf(response) {
  const text = await response.text();
  try {
    const problem = JSON.parse(text);
    if (problem && typeof problem === "object") return {status: response.status, ...problem};
  } catch { /* Not JSON: a proxy's page, say. */ }
  return {status: response.status, title: response.statusText, detail: text.slice(0, 300) || response.statusText};
}

let keyPrompt = null; // One prompt however many requests are waiting on it.

function askForKey(problem) {
  if (keyPrompt) return keyPrompt;
  const form = document.getElementById("key-form");
  const input = document.getElementById("key-input");
  document.getElementById("key-message").textContent =
    localStorage.getItem(KEY_STORAGE) ? `Key refused: ${problem.detail}` : "This server needs an API key.";
  form.hidden = false;
  input.focus();
  keyPrompt = new Promise((resolve) => {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      localStorage.setItem(KEY_STORAGE, input.value.trim());
      form.hidden = true;
      input.value = "";
      keyPrompt = null;
      resolve();
    }, {once: true});
  });
  return keyPrompt;
}

/**
 * Call the API. `json` is sent as a JSON body, `body` as is (FormData for uploads). Resolves to the
 * parsed JSON (null for 204), or the Response itself with `raw`; rejects with ApiError.
 */
export async function request(path, {method = "GET", json, body, headers, raw = false, signal} = {}) {
  for (;;) {
    const init = {method, headers: withKey(headers), signal};
    if (json !== undefined) {
      init.body = JSON.stringify(json);
      init.headers.set("Content-Type", "application/json");
    } else if (body !== undefined) {
      init.body = body;
    }
    const response = await fetch(path, init);
    if (response.status === 401) {
      await askForKey(await problemOf(response));
      continue;
    }
    if (!response.ok) throw new ApiError(await problemOf(response), retryAfterSeconds(response));
    if (raw) return response;
    return response.status === 204 ? null : response.json();
  }
}

/** The events of a text/event-stream body, as {event, id, data}; comments (keep-alives) skipped. */
async function* parseEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = {event: "message", id: undefined, data: []};
      for (const line of block.split("\n")) {
        if (!line || line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const name = colon < 0 ? line : line.slice(0, colon);
        const field = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (name === "data") event.data.push(field);
        else if (name === "event" || name === "id") event[name] = field;
      }
      if (event.data.length) yield {...event, data: event.data.join("\n")};
    }
  }
}

const RECONNECT_MS = 1000;
// A server too busy for another stream (503) says when to come back; a page that waited longer
// would look stuck, and a date far off is more likely a clock or proxy error than advice.
const MAX_RETRY_AFTER_MS = 30000;
// Pages turned away together would otherwise all come back in the same instant.
const RETRY_JITTER_MS = 1000;

/** How long to wait before reconnecting after `error` (milliseconds). */
function reconnectDelay(error) {
  if (!(error instanceof ApiError) || error.retryAfter === null) return RECONNECT_MS;
  return Math.min(MAX_RETRY_AFTER_MS, error.retryAfter * 1000) + Math.random() * RETRY_JITTER_MS;
}

/**
 * Follow a server-sent event stream until its `end` event, reconnecting with Last-Event-ID:
 * after a second when the connection drops, after Retry-After (at most 30 s) when the server
 * answers 503 or 429 with one. Before each such wait, `onBusy(lastId)` (if given) may catch up
 * another way and resolve to {lastId, done}: the stream resumes after that id, or stops if done.
 * fetch rather than EventSource: EventSource cannot send the Authorization header.
 * Returns an AbortController; `onError` gets an ApiError that retrying cannot fix (a 404).
 */
export function followEvents(path, onEvent, onError, onBusy = null) {
  const controller = new AbortController();
  (async () => {
    let lastId = null;
    while (!controller.signal.aborted) {
      let delay = RECONNECT_MS;
      try {
        const headers = {Accept: "text/event-stream", ...(lastId === null ? {} : {"Last-Event-ID": lastId})};
        const response = await request(path, {headers, raw: true, signal: controller.signal});
        for await (const event of parseEvents(response.body)) {
          if (event.id !== undefined) lastId = event.id;
          onEvent(event);
          if (event.event === "end") return;
        }
      } catch (error) {
        if (controller.signal.aborted) return;
        // A 429 is worth retrying when the server says when; other 4xx answers will not change.
        if (error instanceof ApiError && error.status < 500 && !(error.status === 429 && error.retryAfter !== null)) {
          onError(error);
          return;
        }
        delay = reconnectDelay(error);
        if (onBusy && error instanceof ApiError && error.retryAfter !== null) {
          try {
            const caught = await onBusy(lastId);
            lastId = caught.lastId;
            if (caught.done) return;
          } catch (busyError) {
            // Catching up failed too; the stream will be tried again after the wait all the same.
          }
        }
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  })();
  return controller;
}

/** Show an error in words in `element`: the problem's detail and each named field. */
export function showProblem(element, error, heading) {
  element.replaceChildren();
  const problem = error instanceof ApiError ? error.problem : {detail: `Could not reach Axon: ${error.message}`};
  const title = document.createElement("strong");
  title.textContent = heading || problem.title || "Error";
  element.append(title);
  if (!problem.errors || !problem.errors.length) {
    // With errors listed, the detail only summarises them.
    const detail = document.createElement("p");
    detail.textContent = problem.detail || "";
    element.append(detail);
  } else {
    const list = document.createElement("ul");
    for (const item of problem.errors) {
      const where = item.pointer || item.parameter || item.field || item.component;
      const entry = document.createElement("li");
      if (where) {
        const code = document.createElement("code");
        code.textContent = where;
        entry.append(code, " ");
      }
      entry.append(item.row ? `(row ${item.row}) ${item.detail}` : item.detail);
      list.append(entry);
    }
    element.append(list);
  }
  element.hidden = false;
}

export function hideProblem(element) {
  element.hidden = true;
  element.replaceChildren();
}
