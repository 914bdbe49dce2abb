// Berth's status page: reads the JSON API beside it (/api/v1/status, /api/v1/apps/<id>,
// /api/v1/events?from=<revision>) and renders it. Polls the event stream every second and
// refreshes the tables when something changed. Everything is written with textContent: no
// value from the API is ever parsed as HTML.
"use strict";

(function () {
  const TOKEN_KEY = "berth.token";
  const EVENT_POLL_MS = 1000;
  const STATUS_REFRESH_MS = 5000;  // at least this often
  const STATUS_MIN_INTERVAL_MS = 1500;  // at most this often, however busy the event stream
  const MAX_EVENTS_SHOWN = 200;
  const PENDING = ["REQUESTED", "LAUNCHING", "PENDING"];
  const RUNNING = ["RUNNING", "DECOMMISSIONING"];
  const ENDED = ["SUCCEEDED", "FAILED", "KILLED", "LOST", "LAUNCH_FAILED", "CANCELLED"];
  const FAILED = ["FAILED", "LOST", "LAUNCH_FAILED"];

  const $ = (id) => document.getElementById(id);
  let lastRevision = null;     // the newest event revision shown
  let lastStatusAt = 0;
  let statusDirty = true;    // events arrived since the tables were last refreshed
  let selectedApp = null;
  let pollTimer = null;
  let failures = 0;

  // ---- helpers --------------------------------------------------------------------------------

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function badge(text, kind) { return el("span", text, "badge" + (kind ? " " + kind : "")); }

  function row(cells) {
    const tr = document.createElement("tr");
    for (const cell of cells) {
      const td = document.createElement("td");
      if (cell instanceof Node) td.appendChild(cell);
      else if (cell && cell.node) { td.appendChild(cell.node); if (cell.className) td.className = cell.className; }
      else if (cell && typeof cell === "object") { td.textContent = cell.text; td.className = cell.className || ""; }
      else td.textContent = cell === undefined || cell === null ? "" : String(cell);
      tr.appendChild(td);
    }
    return tr;
  }

  function sum(counts, states) {
    let n = 0;
    for (const state of states) n += Number((counts || {})[state] || 0);
    return n;
  }

  function age(timestamp) {
    if (!timestamp) return "";
    let seconds = Math.max(0, Math.floor((Date.now() - Date.parse(timestamp)) / 1000));
    const days = Math.floor(seconds / 86400); seconds -= days * 86400;
    const hours = Math.floor(seconds / 3600); seconds -= hours * 3600;
    const minutes = Math.floor(seconds / 60); seconds -= minutes * 60;
    if (days) return days + "d " + hours + "h";
    if (hours) return hours + "h " + minutes + "m";
    if (minutes) return minutes + "m " + seconds + "s";
    return seconds + "s";
  }

  function stateKind(state) {
    if (RUNNING.includes(state) || state === "SUCCEEDED") return "ok";
    if (PENDING.includes(state)) return "warn";
    if (FAILED.includes(state)) return "bad";
    return "";
  }

  function showBanner(text) {
    const banner = $("banner");
    banner.textContent = text || "";
    banner.hidden = !text;
  }

  // ---- the API ------------------------------------------------------------------------------

  class Unauthorized extends Error {}

  async function api(path) {
    const headers = { "Accept": "application/json" };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers["Authorization"] = "Bearer " + token;
    const response = await fetch("api/v1/" + path, { headers: headers, cache: "no-store" });
    let body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    if (response.status === 401) throw new Unauthorized((body && body.error) || "unauthorized");
    if (!response.ok) {
      const error = new Error((body && body.error) || ("HTTP " + response.status));
      error.status = response.status;
      throw error;
    }
    return body;
  }

  // ---- rendering ----------------------------------------------------------------------------

  function renderStatus(status) {
    const daemon = status.daemon || {};
    $("daemon-id").textContent = daemon.daemonId || "";
    $("daemon-version").textContent = daemon.version || "";
    $("daemon-revision").textContent = daemon.revision || "0";
    $("daemon-serving").textContent = daemon.serving ? "yes" : "starting";
    const caller = status.caller || {};
    $("caller").textContent = caller.anonymous ? "anonymous (no tokens configured)"
      : caller.operator ? "operator" : "tenant " + caller.tenant;
    $("forget-token").hidden = !sessionStorage.getItem(TOKEN_KEY);

    const pools = $("pools").tBodies[0];
    pools.replaceChildren();
    $("pools-note").hidden = Array.isArray(status.pools);
    $("pools").hidden = !Array.isArray(status.pools);
    for (const pool of status.pools || []) {
      const counts = pool.counts || {};
      const health = pool.healthy ? badge("healthy", "ok") : badge("unhealthy", "bad");
      const sync = pool.synced ? badge("synced", "ok") : badge("not synced", "warn");
      const type = pool.draining ? pool.type + " (draining)" : pool.type;
      const tr = row([{ text: pool.name, className: "mono" }, type, health, sync, sum(counts, RUNNING),
        sum(counts, PENDING), sum(counts, ENDED), pool.launchQueue || "0",
        { text: pool.lastError || "", className: "wrap" }]);
      tr.dataset.pool = pool.name;
      tr.dataset.healthy = pool.healthy ? "true" : "false";
      pools.appendChild(tr);
    }

    const apps = $("apps").tBodies[0];
    apps.replaceChildren();
    const list = status.applications || [];
    $("apps-empty").hidden = list.length > 0;
    for (const app of list) {
      let running = 0, pending = 0, failed = 0;
      const targets = [];
      for (const profile of app.profileStatus || []) {
        running += sum(profile.counts, RUNNING);
        pending += sum(profile.counts, PENDING);
        failed += sum(profile.counts, FAILED);
        targets.push("p" + (profile.profileId || 0) + ": " + (profile.target || 0));
      }
      const conditions = document.createElement("span");
      for (const condition of app.conditions || []) conditions.appendChild(badge(condition, "bad")).classList.add("condition");
      const phase = app.phase || "ACTIVE";
      const tr = row([{ text: app.appId, className: "mono" }, app.tenant,
        badge(phase, phase === "ACTIVE" ? "ok" : phase === "ORPHANED" ? "warn" : ""),
        targets.join(", "), running, pending, failed, (app.pools || []).join(" → "),
        { node: conditions, className: "wrap" }]);
      const key = app.key || app.appId;  // what the API names it by (another tenant's: "<tenant>.<id>")
      tr.dataset.app = app.appId;
      tr.dataset.key = key;
      tr.dataset.running = String(running);
      if (key === selectedApp) tr.classList.add("selected");
      tr.addEventListener("click", () => selectApp(key));
      apps.appendChild(tr);
    }
  }

  function renderApp(page) {
    const app = page.application;
    $("app-section").hidden = false;
    $("app-title").textContent = app.appId;
    const profiles = (app.profiles || []).map((p) => "p" + (p.id || 0) + " " + (p.cores || 0) + " cores, " +
      (p.heapMib || 0) + " MiB heap").join("; ");
    $("app-summary").textContent = "tenant " + app.tenant + " · " + (app.phase || "ACTIVE") +
      " · launch failures " + (app.launchFailures || 0) + (profiles ? " · " + profiles : "") +
      (page.truncated ? " · newest executors only" : "") + (app.endReason ? " · ended: " + app.endReason : "");
    const body = $("executors").tBodies[0];
    body.replaceChildren();
    const executors = (page.executors || []).slice().reverse();  // newest first
    for (const e of executors) {
      const state = e.state || "REQUESTED";
      const times = e.times || {};
      const loss = e.loss ? [e.loss.reason, e.loss.message].filter(Boolean).join(": ") : "";
      const tr = row([{ text: e.executorId, className: "mono" }, e.profileId || 0, e.pool,
        badge(state, stateKind(state)), { text: e.host || "", className: "mono" },
        age(times.ended ? null : (times.running || times.requested)) || (times.ended ? "ended" : ""),
        e.attempt || 0, e.hasExitCode ? e.exitCode || 0 : "", { text: loss, className: "wrap" }]);
      tr.dataset.executor = e.executorId;
      tr.dataset.state = state;
      body.appendChild(tr);
    }
  }

  function describe(event) {
    if (event.executor) {
      const e = event.executor;
      let text = e.appId + " executor " + e.executorId + " " + (e.state || "REQUESTED") + " on " + e.pool;
      if (e.host) text += " at " + e.host;
      if (e.loss && e.loss.reason) text += " (" + e.loss.reason + (e.loss.message ? ": " + e.loss.message : "") + ")";
      return text;
    }
    if (event.application) {
      const a = event.application;
      const targets = (a.profileStatus || []).map((p) => "p" + (p.profileId || 0) + "=" + (p.target || 0)).join(" ");
      let text = a.appId + " application " + (a.phase || "ACTIVE") + (targets ? " target " + targets : "");
      if ((a.conditions || []).length) text += " [" + a.conditions.join("; ") + "]";
      return text;
    }
    return event.type || "event";
  }

  function addEvents(events, reset) {
    const list = $("events");
    if (reset) list.replaceChildren();
    for (const event of events) {
      const li = el("li");
      li.dataset.revision = event.revision;
      li.appendChild(el("span", "#" + event.revision, "rev"));
      li.appendChild(document.createTextNode(" " + describe(event)));
      list.insertBefore(li, list.firstChild);
    }
    while (list.children.length > MAX_EVENTS_SHOWN) list.removeChild(list.lastChild);
  }

  // ---- refreshing -------------------------------------------------------------------------

  async function refreshStatus() {
    renderStatus(await api("status"));
    lastStatusAt = Date.now();
    if (selectedApp) {
      try {
        renderApp(await api("apps/" + encodeURIComponent(selectedApp)));
      } catch (error) {
        if (error.status === 404) { showBanner("application " + selectedApp + " is not registered"); selectApp(null); }
        else throw error;
      }
    }
  }

  async function pollEvents() {
    let changed = false;
    for (let pages = 0; pages < 10; pages++) {
      const page = await api("events?limit=" + (lastRevision === null ? MAX_EVENTS_SHOWN : 500) +
                             (lastRevision === null ? "" : "&from=" + lastRevision));
      const reset = lastRevision === null || page.resync;
      if (page.events.length || reset) changed = true;
      addEvents(page.events, reset);
      lastRevision = page.events.length ? page.events[page.events.length - 1].revision
        : (reset ? page.revision : lastRevision);
      if (!page.more) break;
    }
    return changed;
  }

  async function tick() {
    pollTimer = null;
    if (document.hidden) { schedule(EVENT_POLL_MS); return; }
    try {
      if (await pollEvents()) statusDirty = true;
      const since = Date.now() - lastStatusAt;
      if ((statusDirty && since >= STATUS_MIN_INTERVAL_MS) || since >= STATUS_REFRESH_MS) {
        statusDirty = false;
        await refreshStatus();
      }
      failures = 0;
      showBanner("");
      $("token-section").hidden = true;
      $("content").hidden = false;
      $("events-live").classList.remove("stale");
      document.body.dataset.state = "ready";
      document.body.dataset.revision = String(lastRevision || 0);
      schedule(EVENT_POLL_MS);
    } catch (error) {
      statusDirty = true;
      $("events-live").classList.add("stale");
      if (error instanceof Unauthorized) {
        document.body.dataset.state = "token";
        $("token-section").hidden = false;
        $("content").hidden = true;
        showBanner(sessionStorage.getItem(TOKEN_KEY) ? "the token was refused: " + error.message : "");
        return;  // until a token is entered
      }
      failures++;
      document.body.dataset.state = "error";
      showBanner("cannot read berthd's status: " + error.message + " (retrying)");
      schedule(Math.min(EVENT_POLL_MS * Math.pow(2, failures), 15000));
    }
  }

  function schedule(ms) {
    if (pollTimer !== null) clearTimeout(pollTimer);
    pollTimer = setTimeout(tick, ms);
  }

  function restart() {
    lastRevision = null;
    lastStatusAt = 0;
    statusDirty = true;
    schedule(0);
  }

  function selectApp(app) {
    selectedApp = app;
    const hash = app ? "#app=" + encodeURIComponent(app) : "";
    if (location.hash !== hash) history.replaceState(null, "", hash || location.pathname);
    $("app-section").hidden = !app;
    for (const tr of $("apps").tBodies[0].rows) tr.classList.toggle("selected", tr.dataset.key === app);
    if (app) {
      api("apps/" + encodeURIComponent(app)).then(renderApp).catch((error) => showBanner(error.message));
    }
  }

  function appFromHash() {
    const match = /^#app=(.+)$/.exec(location.hash);
    return match ? decodeURIComponent(match[1]) : null;
  }

  document.addEventListener("DOMContentLoaded", () => {
    selectedApp = appFromHash();
    $("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, $("token-input").value.trim());
      $("token-input").value = "";
      restart();
    });
    $("forget-token").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); restart(); });
    $("app-close").addEventListener("click", () => selectApp(null));
    window.addEventListener("hashchange", () => selectApp(appFromHash()));
    restart();
  });
})();
