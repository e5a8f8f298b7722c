// The mockserver dashboard: the control API (specs/control.yaml), called from the same origin.
// Everything a client sent is shown with textContent, never as HTML: journal entries are
// whatever anyone sent to the mock.
"use strict";

const API = new URL(".", window.location.href).pathname.replace(/\/$/, "");  // "/__mock__"
const POLL_MS = 1000;
const MAX_ROWS = 500;
const TOKEN_KEY = "mockserver-control-token";

const state = { generation: 0, lastId: 0, matched: 0, entries: new Map(), selected: null, paused: false, packs: [], operations: new Set() };
const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- calling the control API

async function call(method, path, body) {
  const headers = { accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers["x-mockserver-token"] = token;
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(API + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 401) $("token-box").hidden = false;
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const message = data && data.error ? data.error.message : `${response.status} ${response.statusText}`;
    throw new Error(message);
  }
  return data;
}

function say(text, kind = "info") {
  const box = $("message");
  box.textContent = text;
  box.className = kind;
  if (kind === "info") setTimeout(() => { if (box.textContent === text) box.textContent = ""; }, 4000);
}

async function act(label, work) {
  try {
    await work();
    say(label);
  } catch (error) {
    say(`${label}: failed: ${error.message}`, "error");
  }
}

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

// ---------------------------------------------------------------- the journal

function filterQuery() {
  const query = new URLSearchParams();
  const fields = { pack: "filter-pack", method: "filter-method", operation_id: "filter-operation",
                   path: "filter-path", status: "filter-status", unmatched: "filter-unmatched" };
  for (const [name, id] of Object.entries(fields)) {
    const value = $(id).value.trim();
    if (value) query.set(name, value);
  }
  return query;
}

async function loadJournal(fresh) {
  const query = filterQuery();
  if (fresh) {
    state.generation += 1;  // a poll under way for the old filters is dropped when it answers
    query.set("limit", String(MAX_ROWS));
  } else {
    query.set("since_id", String(state.lastId));
  }
  const generation = state.generation;
  const page = await call("GET", "/journal?" + query.toString());
  if (generation !== state.generation) return;
  if (fresh) {
    state.entries.clear();
    $("journal-table").tBodies[0].replaceChildren();
    state.matched = page.total;
  } else {
    state.matched += page.total;
  }
  for (const entry of page.requests) addEntry(entry);
  showCount(page.dropped);
}

function addEntry(entry) {
  state.lastId = Math.max(state.lastId, entry.id);
  if (state.entries.has(entry.id)) return;
  state.entries.set(entry.id, entry);
  if (entry.operation_id) rememberOperation(entry.operation_id);
  const row = element("tr", undefined, "entry" + (entry.unmatched ? " unmatched" : ""));
  row.dataset.id = entry.id;
  const time = new Date(entry.time * 1000).toISOString().slice(11, 23);
  const path = entry.path + (entry.query ? "?" + entry.query : "");
  const cells = [["id", entry.id], ["time", time], ["method", entry.method],
                 ["status status-" + String(entry.status)[0], entry.status], ["pack", entry.pack ?? "—"],
                 ["path", path], ["operation", entry.operation_id ?? "—"], ["ms", entry.duration_ms]];
  for (const [name, value] of cells) row.append(element("td", value, name));
  row.addEventListener("click", () => showEntry(entry.id));
  const body = $("journal-table").tBodies[0];
  body.prepend(row);
  while (body.rows.length > MAX_ROWS) {
    state.entries.delete(Number(body.lastElementChild.dataset.id));
    body.lastElementChild.remove();
  }
}

function showCount(dropped) {
  const shown = state.entries.size;
  let text = `${shown} shown of ${state.matched} matching`;
  if (dropped) text += `, ${dropped} older pushed out of the journal`;
  $("journal-count").textContent = `(${text})`;
  $("journal-empty").hidden = shown > 0;
}

function rememberOperation(operationId) {
  if (state.operations.has(operationId)) return;
  state.operations.add(operationId);
  $("operations").append(element("option", operationId));
}

function showBody(pre, body, truncated, size) {
  if (body === null || body === undefined) {
    pre.textContent = "(no body)";
  } else {
    pre.textContent = typeof body === "string" ? body : JSON.stringify(body, null, 2);
  }
  if (truncated) pre.textContent += `\n… (cut: ${size} bytes in all)`;
}

function showEntry(id) {
  const entry = state.entries.get(id);
  if (!entry) return;
  state.selected = id;
  for (const row of $("journal-table").tBodies[0].rows) row.classList.toggle("selected", Number(row.dataset.id) === id);
  $("entry-detail").hidden = false;
  document.querySelector(".split").classList.add("with-detail");
  const query = entry.query ? "?" + entry.query : "";
  $("detail-title").textContent = `#${entry.id} ${entry.method} ${entry.path}${query}` +
    (entry.unmatched ? " (no operation matched)" : ` (${entry.operation_id})`);
  const headers = $("detail-request-headers");
  headers.replaceChildren();
  for (const [name, value] of Object.entries(entry.headers || {})) {
    const row = element("tr");
    row.append(element("td", name), element("td", value));
    headers.append(row);
  }
  showBody($("detail-request-body"), entry.body, entry.body_truncated, entry.body_bytes);
  $("detail-status").textContent = entry.status === 0 ? "(connection dropped by a fault)" : String(entry.status);
  $("detail-status").className = `status-${String(entry.status)[0]}`;
  showBody($("detail-response-body"), entry.response_body, entry.response_body_truncated, entry.response_body_bytes);
}

// ---------------------------------------------------------------- server, clock, faults, packs

async function loadHealth() {
  const health = await call("GET", "/health");
  const journal = health.journal;
  const megabytes = (bytes) => (bytes / 1048576).toFixed(1);
  $("server-info").textContent = `seed ${health.seed} · up ${Math.round(health.uptime_seconds)} s · ` +
    health.packs.map((p) => p.name).join(", ") +
    (journal ? ` · journal ${journal.entries} of ${journal.max_entries} entries, ` +
               `${megabytes(journal.bytes)} of ${megabytes(journal.max_bytes)} MB` : "");
  showClock(health.clock);
  if (state.packs.length === 0) {
    state.packs = health.packs;
    for (const select of [$("filter-pack"), $("fault-pack")]) {
      for (const pack of health.packs) select.append(new Option(pack.name, pack.name));
    }
  }
}

function showClock(clock) {
  $("clock-now").textContent = clock.iso;
  $("clock-mode").textContent = clock.frozen ? "frozen" : (clock.offset ? "running, shifted" : "real time");
}

async function loadFaults() {
  const faults = await call("GET", "/faults");
  const body = $("faults-table").tBodies[0];
  body.replaceChildren();
  for (const fault of faults) {
    const what = [];
    if (fault.status) what.push(`status ${fault.status}`);
    if (fault.latency_ms) what.push(`+${fault.latency_ms} ms`);
    if (fault.drop) what.push("drop");
    if (fault.remaining) what.push(`${fault.remaining} more`);
    const row = element("tr", undefined, "fault");
    row.dataset.id = fault.id;
    const remove = element("button", "remove");
    remove.type = "button";
    remove.addEventListener("click", () => act("Fault removed", async () => { await call("DELETE", `/faults/${fault.id}`); await loadFaults(); }));
    const removeCell = element("td");
    removeCell.append(remove);
    row.append(element("td", `${fault.pack ?? "any pack"} / ${fault.operation_id ?? "any operation"}`), element("td", what.join(", ")), removeCell);
    body.append(row);
  }
  $("faults-empty").hidden = faults.length > 0;
}

async function loadPacks() {
  const box = $("packs");
  for (const pack of state.packs) {
    let card = box.querySelector(`[data-pack="${CSS.escape(pack.name)}"]`);
    if (!card) {
      card = element("div", undefined, "pack");
      card.dataset.pack = pack.name;
      const title = element("h3");
      const docs = element("a", "docs");
      docs.href = `${API}/docs/${encodeURIComponent(pack.name)}`;
      const reset = element("button", "reset");
      reset.type = "button";
      reset.addEventListener("click", () => act(`${pack.name} reset`, async () => { await call("POST", `/packs/${encodeURIComponent(pack.name)}/reset`); await loadPacks(); }));
      const actions = element("span");
      actions.append(docs, " ", reset);
      title.append(element("span", `${pack.name} (${pack.operations} operations, ${pack.prefixes.join(" ")})`), actions);
      card.append(title, element("dl"));
      box.append(card);
    }
    const summary = await call("GET", `/packs/${encodeURIComponent(pack.name)}/summary`);
    const list = card.querySelector("dl");
    list.replaceChildren();
    for (const [key, value] of Object.entries(summary)) {
      const shown = value !== null && typeof value === "object"
        ? (Array.isArray(value) ? value.join(", ") || "none" : Object.entries(value).map(([k, v]) => `${k} ${v}`).join(", "))
        : value;
      const term = element("dt", key);
      term.dataset.key = key;
      list.append(term, element("dd", shown));
    }
  }
}

// ---------------------------------------------------------------- controls

function number(id) {
  const value = $(id).value.trim();
  return value === "" ? undefined : Number(value);
}

function bindControls() {
  $("filters").addEventListener("input", () => refresh(true));
  $("filters").addEventListener("submit", (event) => event.preventDefault());
  $("pause").addEventListener("click", () => {
    state.paused = !state.paused;
    $("pause").setAttribute("aria-pressed", String(state.paused));
    $("pause").textContent = state.paused ? "Resume" : "Pause";
  });
  $("clear-journal").addEventListener("click", () => act("Journal cleared", async () => { await call("DELETE", "/journal"); await refresh(true); }));
  $("reset-all").addEventListener("click", () => act("Everything reset to fixtures", async () => {
    await call("POST", "/reset");
    await refresh(true);
  }));
  $("advance").addEventListener("click", () => act("Clock advanced", async () => {
    showClock(await call("POST", "/clock/advance", { seconds: number("advance-seconds") ?? 0 }));
  }));
  $("set-clock").addEventListener("click", () => act("Clock set", async () => {
    const text = $("set-instant").value.trim();
    const now = /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : text;
    showClock(await call("PUT", "/clock", { now, frozen: $("set-frozen").checked }));
  }));
  $("clock-real").addEventListener("click", () => act("Clock back to real time", async () => { showClock(await call("DELETE", "/clock")); }));
  $("fault-form").addEventListener("submit", (event) => {
    event.preventDefault();
    act("Fault added", async () => {
      const fault = { pack: $("fault-pack").value || undefined, operation_id: $("fault-operation").value.trim() || undefined,
                      status: number("fault-status"), latency_ms: number("fault-latency"), remaining: number("fault-remaining"),
                      message: $("fault-message").value || undefined, drop: $("fault-drop").checked || undefined };
      await call("POST", "/faults", JSON.parse(JSON.stringify(fault)));  // without the undefined fields
      await loadFaults();
    });
  });
  $("clear-faults").addEventListener("click", () => act("Faults removed", async () => { await call("DELETE", "/faults"); await loadFaults(); }));
  $("token-box").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value);
    $("token-box").hidden = true;
    refresh(true);
  });
}

// ---------------------------------------------------------------- the loop

let busy = false;

async function refresh(fresh) {
  if (busy && !fresh) return;
  busy = true;
  try {
    await loadHealth();
    await loadJournal(fresh);
    await loadFaults();
    await loadPacks();
    if ($("message").className === "error" && $("message").textContent.startsWith("dashboard:")) $("message").textContent = "";
  } catch (error) {
    say(`dashboard: ${error.message}`, "error");
  } finally {
    busy = false;
  }
}

function start() {
  bindControls();
  refresh(true);
  setInterval(() => { if (!state.paused && !document.hidden) refresh(false); }, POLL_MS);
}

document.addEventListener("DOMContentLoaded", start);
