// odm-operator console: plain JavaScript, no build step, no external code. Talks to the gateway it is served by:
// /api/* (the console's JSON) and the NodeODM routes (options, chunked upload, cancel/restart/remove of tasks).
// The token lives in sessionStorage (this tab only) and travels in the Authorization header, never in a URL.
"use strict";

const TOKEN_KEY = "odm-operator-token";
const LIST_POLL_MS = 2000;
const JOB_POLL_MS = 2000;
const LOG_POLL_MS = 1500;
const LOG_TAIL = 500; // lines shown when a job page opens; more arrive as ODM writes them
const PARALLEL_UPLOADS = 4;
const PHASES = ["Pending", "Starting", "Running", "Succeeded", "Failed", "Cancelled", "Suspended"];
const FINISHED = new Set(["Succeeded", "Failed", "Cancelled"]);
const IMAGE_EXT = /\.(jpe?g|png|tiff?|bmp|raw|dng|nef|jxl)$/i;
const PRESETS = {
  default: {},
  fast: { "fast-orthophoto": true, "feature-quality": "medium" },
  dsm: { dsm: true, "pc-quality": "high", "feature-quality": "high", "dem-resolution": 2 },
};

const $ = (id) => document.getElementById(id);
const state = { page: 1, phase: "", listTag: null, list: null, highlight: null, gen: 0, job: null };

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c.nodeType ? c : String(c));
  return el;
}

// ----- API ---------------------------------------------------------------------------------------------------

class Unauthorized extends Error {}

async function api(path, opts = {}) {
  const headers = new Headers(opts.headers || {});
  headers.set("Authorization", "Bearer " + (sessionStorage.getItem(TOKEN_KEY) || ""));
  const res = await fetch(path, { ...opts, headers, cache: "no-store" });
  if (res.status === 401) {
    signOut("The token was refused. Sign in again.");
    throw new Unauthorized();
  }
  return res;
}

async function apiJson(path, opts) {
  const res = await api(path, opts);
  const body = await res.json();
  if (!res.ok || (body && body.error)) throw new Error(body && body.error ? body.error : res.statusText);
  return body;
}

function postForm(path, fields) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  return apiJson(path, { method: "POST", body: form });
}

// ----- time --------------------------------------------------------------------------------------------------

function span(seconds) {
  if (seconds === null || !isFinite(seconds)) return "";
  seconds = Math.max(0, Math.round(seconds));
  if (seconds < 60) return seconds + "s";
  const m = Math.floor(seconds / 60);
  if (m < 60) return m + "m " + (seconds % 60) + "s";
  const hrs = Math.floor(m / 60);
  if (hrs < 48) return hrs + "h " + (m % 60) + "m";
  return Math.floor(hrs / 24) + "d " + (hrs % 24) + "h";
}
const secondsSince = (iso, until) => (iso ? ((until ? Date.parse(until) : Date.now()) - Date.parse(iso)) / 1000 : null);
const localTime = (iso) => new Date(iso).toLocaleString();
const size = (bytes) => (bytes < 1048576 ? (bytes / 1024).toFixed(1) + " KiB" : (bytes / 1048576).toFixed(1) + " MiB");

function phaseBadge(phase) {
  return h("span", { class: "phase phase-" + phase }, phase);
}

// ----- sign in -----------------------------------------------------------------------------------------------

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  stopTimers();
  for (const id of ["view-jobs", "view-job", "view-submit", "nav", "logout"]) $(id).hidden = true;
  $("jobs-body").replaceChildren();
  $("namespace").textContent = "";
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  $("token").focus();
}

async function signIn(event) {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("token").value);
  try {
    await apiJson("/info");
  } catch (err) {
    if (!(err instanceof Unauthorized)) $("login-error").textContent = String(err.message || err);
    return;
  }
  $("token").value = "";
  start();
}

function start() {
  $("login").hidden = true;
  $("nav").hidden = false;
  $("logout").hidden = false;
  route();
}

// ----- routing -----------------------------------------------------------------------------------------------

function stopTimers() {
  state.gen++; // every loop started before this stops at its next tick
  state.job = null;
}

function every(ms, fn) {
  // Runs fn now and then ms after each run ends (never overlapping; paused while the tab is hidden); stops on a
  // route change or sign-out.
  const gen = state.gen;
  const tick = async () => {
    if (gen !== state.gen) return;
    if (!document.hidden) {
      try {
        await fn();
      } catch (err) {
        if (err instanceof Unauthorized) return;
        console.warn(err);
      }
    }
    if (gen === state.gen) setTimeout(tick, ms);
  };
  setTimeout(tick, 0);
}

function route() {
  if (!sessionStorage.getItem(TOKEN_KEY)) return signOut();
  stopTimers();
  const hash = location.hash || "#/jobs";
  const job = hash.match(/^#\/jobs?\/(.+)$/);
  const view = job ? "job" : hash === "#/submit" ? "submit" : "jobs";
  for (const v of ["jobs", "job", "submit"]) $("view-" + v).hidden = v !== view;
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === (view === "job" ? "jobs" : view)) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (view === "jobs") showJobs();
  else if (view === "job") showJob(decodeURIComponent(job[1]));
  else showSubmit();
}

// ----- jobs list ---------------------------------------------------------------------------------------------

function showJobs() {
  state.listTag = null;
  every(LIST_POLL_MS, () => loadJobs(false));
}

async function loadJobs(fresh) {
  const q = new URLSearchParams({ page: state.page });
  if (state.phase) q.set("phase", state.phase);
  if (fresh) q.set("fresh", "1");
  const headers = state.listTag && !fresh ? { "If-None-Match": state.listTag } : {};
  const res = await api("/api/jobs?" + q, { headers });
  if (res.status !== 304) {
    const body = await res.json();
    if (!res.ok) {
      $("jobs-error").textContent = body.error || res.statusText;
      return;
    }
    $("jobs-error").textContent = "";
    state.listTag = res.headers.get("ETag");
    state.list = body;
    state.page = body.page;
  }
  renderJobs(); // ages and durations move on even when the page did not change
}

function renderJobs() {
  const body = state.list;
  if (!body) return;
  $("namespace").textContent = "namespace " + body.namespace;
  $("jobs-total").textContent = `(${body.matching} of ${body.total})`;
  const select = $("phase-filter");
  for (const phase of PHASES) {
    let opt = select.querySelector(`option[value="${phase}"]`);
    if (!opt) select.append((opt = h("option", { value: phase })));
    opt.textContent = `${phase} (${body.counts[phase] || 0})`;
  }
  const rows = body.items.map((j) => {
    const running = !FINISHED.has(j.phase) && j.phase !== "Suspended";
    return h(
      "tr",
      { class: j.uuid && j.uuid === state.highlight ? "new" : null, "data-job": j.name, "data-phase": j.phase },
      h("td", { class: "name" }, h("a", { href: "#/job/" + encodeURIComponent(j.name) }, j.title),
        j.title !== j.name ? h("small", {}, j.name) : null),
      h("td", { "data-label": "Phase" }, phaseBadge(j.phase), j.deleting ? h("small", { class: "muted" }, " deleting") : null),
      h("td", { "data-label": "Progress" },
        h("progress", { max: 100, value: j.percent, "aria-label": `${j.percent}%` }), ` ${j.percent}%`,
        h("span", { class: "stage" }, j.stage || (running ? "waiting" : ""))),
      h("td", { "data-label": "Reason", title: j.message }, j.reason),
      h("td", { "data-label": "Capacity" }, j.capacity),
      h("td", { "data-label": "Age" }, span(secondsSince(j.created))),
      h("td", { "data-label": "Duration" }, j.started ? span(secondsSince(j.started, j.finished)) : "")
    );
  });
  $("jobs-body").replaceChildren(...rows);
  $("jobs-empty").hidden = body.items.length > 0;
  $("page-info").textContent = `Page ${body.page} of ${body.pages}`;
  $("page-prev").disabled = body.page <= 1;
  $("page-next").disabled = body.page >= body.pages;
}

function changePage(delta) {
  state.page = Math.max(1, state.page + delta);
  state.listTag = null;
  loadJobs(false).catch(() => {});
}

// ----- one job -----------------------------------------------------------------------------------------------

function showJob(name) {
  const job = (state.job = { name, tag: null, data: null, logLine: null, productsAt: 0 });
  $("job-title").textContent = name;
  for (const id of ["job-phase", "job-details", "job-sizing", "job-products", "job-timeline", "job-log"]) $(id).replaceChildren();
  $("job-error").textContent = "";
  $("job-message").textContent = "";
  every(JOB_POLL_MS, () => loadJob(job));
  every(LOG_POLL_MS, () => loadLog(job));
}

async function loadJob(job) {
  const headers = job.tag ? { "If-None-Match": job.tag } : {};
  const res = await api("/api/jobs/" + encodeURIComponent(job.name), { headers });
  if (state.job !== job) return;
  if (res.status === 404) {
    $("job-error").textContent = (await res.json()).error;
    return;
  }
  if (res.status !== 304) {
    job.tag = res.headers.get("ETag");
    const before = job.data;
    job.data = await res.json();
    renderJob(job.data);
    if (before) job.productsAt = 0; // the job changed: links anew (signing is local, no S3 call)
  }
  if (job.data && job.data.phase === "Succeeded" && Date.now() - job.productsAt > 60000) {
    job.productsAt = Date.now(); // fresh short-lived links every minute
    await loadProducts(job);
  }
}

function dl(target, pairs) {
  target.replaceChildren(...pairs.filter(([, v]) => v !== null && v !== undefined && v !== "")
    .flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function renderJob(j) {
  $("job-title").textContent = j.title;
  $("job-phase").replaceChildren(phaseBadge(j.phase));
  $("job-progress").value = j.percent;
  $("job-stage").textContent = `${j.percent}%` + (j.stage ? ` · ${j.stage}` : "");
  $("job-message").textContent = [j.reason, j.message].filter(Boolean).join(": ");
  const opts = Object.entries(j.options).map(([k, v]) => `${k}=${v}`).join(", ");
  const res = j.resources ? `${j.resources.cpu} vCPU, ${j.resources.memory}` + (j.resources.gpu ? `, ${j.resources.gpu} GPU` : "") : "sized from the dataset";
  dl($("job-details"), [
    ["ODMJob", `${j.namespace}/${j.name}`], ["NodeODM task", j.uuid], ["Images", j.images],
    ["Created", j.created && localTime(j.created)],
    ["Duration", j.started ? span(secondsSince(j.started, j.finished)) : ""],
    ["Resources", res], ["Capacity", j.capacity], ["Options", opts || "ODM defaults"], ["ODM image", j.image],
    ["Input", j.input], ["Output", j.output], ["Cluster", j.aws.cluster], ["Log stream", j.aws.logStream],
  ]);
  const s = j.sizing;
  if (s) {
    dl($("job-sizing"), [["Images found", s.images], ["Size", s.bytes !== undefined && size(s.bytes)],
      ["Rule", s.rule], ["CPU", s.cpu], ["Memory", s.memory], ["Disk", s.disk]]);
  } else {
    $("job-sizing").replaceChildren(h("dd", {}, j.resources ? "Resources were given in the job." : "Not sized yet."));
  }
  $("job-timeline").replaceChildren(...j.timeline.map((e) =>
    h("li", { class: "k-" + e.kind }, h("time", { datetime: e.at }, localTime(e.at)), e.title,
      e.detail ? h("span", { class: "detail" }, e.detail) : null)));
  const stopped = FINISHED.has(j.phase) || j.phase === "Suspended" || j.deleting;
  $("act-cancel").disabled = stopped;
  // A NodeODM task restarts as a new run (the gateway's /task/restart); any other ODMJob can only be resumed
  // from suspension (its spec is immutable once accepted).
  $("act-restart").disabled = j.deleting || (j.uuid ? !stopped : !j.suspend);
  $("act-restart").textContent = j.uuid ? "Restart" : "Resume";
  $("act-delete").disabled = j.deleting;
  if (j.phase !== "Succeeded") $("job-products").replaceChildren(h("li", { class: "muted" }, "When the job has succeeded."));
}

async function loadProducts(job) {
  const body = await apiJson("/api/jobs/" + encodeURIComponent(job.name) + "/products");
  if (state.job !== job) return;
  const minutes = Math.round(body.expiresIn / 60);
  $("job-products").replaceChildren(
    ...body.products.map((p) => h("li", {}, h("a", { href: p.url, download: p.file, rel: "noreferrer" }, p.label))),
    h("li", { class: "muted" }, body.products.length ? `Links work for ${minutes} minutes (renewed while this page is open).` : "No products.")
  );
}

async function loadLog(job) {
  const data = job.data;
  if (job.logLine !== null && data && data.finishedPhase && job.logDone) return; // read to the end
  const line = job.logLine === null ? -LOG_TAIL : job.logLine;
  const body = await apiJson(`/api/jobs/${encodeURIComponent(job.name)}/log?line=${line}`);
  if (state.job !== job) return;
  const pre = $("job-log");
  const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  if (body.lines.length) pre.append(body.lines.join("\n") + "\n");
  if (job.logLine === null && !body.lines.length) pre.textContent = "";
  job.logLine = body.total;
  job.logDone = data && data.finishedPhase && body.lines.length === 0;
  if ($("log-follow").checked && (atEnd || line < 0)) pre.scrollTop = pre.scrollHeight;
}

async function act(kind) {
  const j = state.job && state.job.data;
  if (!j) return;
  $("job-error").textContent = "";
  try {
    if (j.uuid) {
      const route = { cancel: "/task/cancel", restart: "/task/restart", delete: "/task/remove" }[kind];
      const body = await apiJson(route, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ uuid: j.uuid }) });
      if (body.success === false) throw new Error(body.error || "refused");
    } else {
      const action = { cancel: "suspend", restart: "resume", delete: "delete" }[kind];
      await apiJson(`/api/jobs/${encodeURIComponent(j.name)}/${action}`, { method: "POST" });
    }
  } catch (err) {
    if (!(err instanceof Unauthorized)) $("job-error").textContent = `${kind} failed: ${err.message}`;
    return;
  }
  if (kind === "delete" || (kind === "restart" && j.uuid)) {
    state.highlight = j.uuid; // a restart is a new ODMJob of the same task
    location.hash = "#/jobs";
    await loadJobs(true).catch(() => {});
  } else {
    state.job.tag = null;
    await loadJob(state.job);
  }
}

// ----- submit ------------------------------------------------------------------------------------------------

const upload = { files: [], gcp: null, xhrs: [], uuid: null, cancelled: false, options: null };

async function showSubmit() {
  if (upload.options) return;
  try {
    upload.options = await apiJson("/options");
  } catch (err) {
    if (!(err instanceof Unauthorized)) $("submit-error").textContent = "Could not read /options: " + err.message;
    return;
  }
  const box = $("options");
  box.replaceChildren(...upload.options.map((o) => {
    const id = "opt-" + o.name;
    let input;
    if (o.type === "bool") input = h("input", { type: "checkbox", id, checked: o.value === "true" });
    else if (o.type === "enum") input = h("select", { id }, ...o.domain.map((d) => h("option", { value: d, selected: String(d) === o.value }, d)));
    else input = h("input", { type: "text", id, value: o.value, inputmode: o.type === "int" || o.type === "float" ? "decimal" : null });
    input.dataset.option = o.name;
    input.dataset.type = o.type;
    input.dataset.default = o.value;
    return h("div", { class: "opt", "data-name": o.name }, h("label", { for: id, title: o.help }, o.name), input);
  }));
}

function optionInputs() {
  return [...document.querySelectorAll("#options [data-option]")];
}

function applyPreset() {
  const preset = PRESETS[$("preset").value] || {};
  for (const el of optionInputs()) {
    const value = el.dataset.option in preset ? String(preset[el.dataset.option]) : el.dataset.default;
    if (el.type === "checkbox") el.checked = value === "true";
    else el.value = value;
  }
}

function chosenOptions() {
  // Only what differs from ODM's default is sent: the job shows what was asked for.
  const out = [];
  const inputs = optionInputs();
  if (!inputs.length) {
    for (const [name, value] of Object.entries(PRESETS[$("preset").value] || {})) out.push({ name, value });
    return out;
  }
  for (const el of inputs) {
    const value = el.type === "checkbox" ? String(el.checked) : el.value.trim();
    if (value !== el.dataset.default) out.push({ name: el.dataset.option, value });
  }
  return out;
}

function addFiles(files) {
  const known = new Set(upload.files.map((f) => f.name + "/" + f.size));
  let skipped = 0;
  for (const f of files) {
    if (!(IMAGE_EXT.test(f.name) || /\.txt$/i.test(f.name))) { skipped++; continue; }
    if (!known.has(f.name + "/" + f.size)) upload.files.push(f);
  }
  renderFiles(skipped);
}

function renderFiles(skipped) {
  const total = upload.files.reduce((s, f) => s + f.size, 0) + (upload.gcp ? upload.gcp.size : 0);
  const images = upload.files.filter((f) => IMAGE_EXT.test(f.name)).length;
  $("files-summary").textContent = `${images} images, ${(total / 1048576).toFixed(1)} MiB` + (skipped ? ` (${skipped} other files skipped)` : "");
  $("files").replaceChildren(...[...upload.files, ...(upload.gcp ? [upload.gcp] : [])].map((f) => {
    f.bar = h("progress", { max: 100, value: 0, "aria-label": "upload of " + f.name });
    return h("li", {}, h("span", { title: f.name }, f.webkitRelativePath || f.name), f.bar, h("span", { class: "size muted" }, (f.size / 1024).toFixed(0) + " KiB"));
  }));
}

async function readEntry(entry, out) {
  // A dropped folder: walk it (readEntries answers in batches until it returns none).
  if (entry.isFile) {
    out.push(await new Promise((ok, fail) => entry.file(ok, fail)));
  } else if (entry.isDirectory) {
    const reader = entry.createReader();
    for (;;) {
      const batch = await new Promise((ok, fail) => reader.readEntries(ok, fail));
      if (!batch.length) break;
      for (const e of batch) await readEntry(e, out);
    }
  }
}

async function onDrop(event) {
  event.preventDefault();
  $("drop").classList.remove("over");
  const out = [];
  const entries = [...event.dataTransfer.items].map((i) => i.webkitGetAsEntry && i.webkitGetAsEntry()).filter(Boolean);
  if (entries.length) for (const e of entries) await readEntry(e, out);
  else out.push(...event.dataTransfer.files);
  addFiles(out);
}

function sendFile(uuid, file, onProgress) {
  return new Promise((ok, fail) => {
    const xhr = new XMLHttpRequest();
    upload.xhrs.push(xhr);
    xhr.open("POST", "/task/new/upload/" + uuid);
    xhr.setRequestHeader("Authorization", "Bearer " + sessionStorage.getItem(TOKEN_KEY));
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded);
    xhr.onload = () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status === 200 && body.success) { onProgress(file.size); ok(); }
      else fail(new Error(`${file.name}: ${body.error || xhr.statusText || xhr.status}`));
    };
    xhr.onerror = () => fail(new Error(`${file.name}: network error`));
    xhr.onabort = () => fail(new Error("cancelled"));
    const form = new FormData();
    form.append("images", file, file.name);
    xhr.send(form);
  });
}

async function submit(event) {
  event.preventDefault();
  $("submit-error").textContent = "";
  const files = [...upload.files, ...(upload.gcp ? [upload.gcp] : [])];
  if (!upload.files.some((f) => IMAGE_EXT.test(f.name))) {
    $("submit-error").textContent = "Add at least one image.";
    return;
  }
  const fields = { name: $("job-name").value.trim(), options: JSON.stringify(chosenOptions()), spot: String($("spot").checked) };
  if (document.querySelector('input[name="sizing"]:checked').value === "custom") {
    fields.resources = JSON.stringify({ cpu: Number($("res-cpu").value), memory: $("res-memory").value });
  }
  if (!fields.name) delete fields.name;
  Object.assign(upload, { xhrs: [], uuid: null, cancelled: false });
  $("submit-go").disabled = true;
  $("submit-cancel").disabled = false;
  const total = files.reduce((s, f) => s + f.size, 0) || 1;
  const sent = new Map();
  const progress = (f, bytes) => {
    sent.set(f, bytes);
    f.bar.value = (100 * bytes) / (f.size || 1);
    const done = [...sent.values()].reduce((a, b) => a + b, 0);
    $("total-progress").value = (100 * done) / total;
    $("total-label").textContent = `${((100 * done) / total).toFixed(0)}% of ${(total / 1048576).toFixed(1)} MiB`;
  };
  try {
    const { uuid } = await postForm("/task/new/init", fields);
    upload.uuid = uuid;
    const queue = [...files];
    const worker = async () => {
      for (let f; (f = queue.shift()) && !upload.cancelled; ) await sendFile(uuid, f, (b) => progress(f, b));
    };
    await Promise.all(Array.from({ length: PARALLEL_UPLOADS }, worker));
    if (upload.cancelled) throw new Error("cancelled");
    $("total-label").textContent = "Starting the job…";
    await postForm("/task/new/commit/" + uuid, {});
    state.highlight = uuid;
    resetSubmit();
    state.page = 1;
    state.phase = "";
    $("phase-filter").value = "";
    location.hash = "#/jobs";
    await loadJobs(true); // the new job at once, not at the next refresh
  } catch (err) {
    if (err instanceof Unauthorized) return;
    for (const x of upload.xhrs) x.abort();
    if (upload.uuid) api("/task/remove", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ uuid: upload.uuid }) }).catch(() => {});
    $("submit-error").textContent = upload.cancelled ? "Upload cancelled; nothing was kept." : "Upload failed: " + err.message;
    $("total-label").textContent = "";
  } finally {
    $("submit-go").disabled = false;
    $("submit-cancel").disabled = true;
  }
}

function resetSubmit() {
  upload.files = [];
  upload.gcp = null;
  $("pick-gcp").value = "";
  $("total-progress").value = 0;
  $("total-label").textContent = "";
  renderFiles(0);
}

// ----- wiring ------------------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", signIn);
  $("logout").addEventListener("click", () => signOut("Signed out."));
  $("phase-filter").addEventListener("change", (e) => { state.phase = e.target.value; state.page = 1; state.listTag = null; loadJobs(false).catch(() => {}); });
  $("page-prev").addEventListener("click", () => changePage(-1));
  $("page-next").addEventListener("click", () => changePage(1));
  $("act-cancel").addEventListener("click", () => act("cancel"));
  $("act-restart").addEventListener("click", () => act("restart"));
  $("act-delete").addEventListener("click", () => $("confirm-delete").showModal());
  $("confirm-delete").addEventListener("close", () => { if ($("confirm-delete").returnValue === "delete") act("delete"); });
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", onDrop);
  $("pick-files").addEventListener("change", (e) => addFiles(e.target.files));
  $("pick-folder").addEventListener("change", (e) => addFiles(e.target.files));
  $("pick-gcp").addEventListener("change", (e) => {
    const f = e.target.files[0];
    // NodeODM routes any .txt other than geo.txt / image_groups.txt as the GCP file.
    upload.gcp = f ? (/\.txt$/i.test(f.name) ? f : new File([f], "gcp_list.txt")) : null;
    renderFiles(0);
  });
  $("preset").addEventListener("change", applyPreset);
  $("options-filter").addEventListener("input", (e) => {
    const q = e.target.value.toLowerCase();
    for (const row of document.querySelectorAll("#options .opt")) row.hidden = q && !row.dataset.name.includes(q);
  });
  for (const r of document.querySelectorAll('input[name="sizing"]')) r.addEventListener("change", () => { $("custom-resources").hidden = r.value !== "custom" || !r.checked; });
  $("submit-form").addEventListener("submit", submit);
  $("submit-cancel").addEventListener("click", () => { upload.cancelled = true; for (const x of upload.xhrs) x.abort(); });
  window.addEventListener("hashchange", route);
  if (sessionStorage.getItem(TOKEN_KEY)) start();
  else signOut();
});
