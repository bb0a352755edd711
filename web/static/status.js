// shardtorrent status page. Reads the node's Transmission RPC on the same
// origin (torrent-get, session-stats and its "shardtorrent" key) every
// REFRESH_MS and draws it; no framework, nothing fetched from elsewhere.
"use strict";

const RPC_PATH = "/transmission/rpc";
const REFRESH_MS = 2000;
// MAX_ROWS caps the torrents drawn: all are fetched, filtered and sorted,
// the first MAX_ROWS drawn, and the count shown. Rebuilding 500 rows every
// 2 s is cheap; 10,000 would not be.
const MAX_ROWS = 500;
const TORRENT_FIELDS = ["id", "name", "status", "percentDone", "rateDownload", "rateUpload",
  "peersConnected", "sizeWhenDone", "error", "errorString", "uploadRatio"];
// Transmission's torrent status numbers (tr_torrent_activity).
const STATUS = ["stopped", "check wait", "checking", "download wait", "downloading", "seed wait", "seeding"];

const ui = {
  state: document.getElementById("state"),
  error: document.getElementById("error"),
  version: document.getElementById("version"),
  totals: document.getElementById("totals"),
  filter: document.getElementById("filter"),
  shown: document.getElementById("shown"),
  torrents: document.querySelector("#torrents tbody"),
  shards: document.querySelector("#shards tbody"),
  plugins: document.querySelector("#plugins tbody"),
  pluginsIdle: document.getElementById("plugins-idle"),
};

let sessionId = "";           // X-Transmission-Session-Id, learnt from a 409
let torrents = [];            // the last torrent-get
let sortKey = "id", sortDir = 1;
let refreshes = 0;
let timer = 0;
let inflight = false;

// RPCError is an RPC that failed: HTTP status (0 when unreachable) and why.
class RPCError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// rpc posts one request, doing the session-id handshake: a 409 carries
// the id to send back, and the request is retried once with it. Basic
// auth the browser holds for this origin goes along by itself.
async function rpc(method, args) {
  const body = JSON.stringify({ method, arguments: args || {} });
  for (let attempt = 0; attempt < 2; attempt++) {
    let res;
    try {
      // location.origin, not a relative URL: a page opened with the
      // credentials in its address (user:pass@host) would make a relative
      // URL carry them, which fetch refuses; the basic auth the browser
      // holds for the origin goes along anyway.
      res = await fetch(location.origin + RPC_PATH, {
        method: "POST", body, credentials: "same-origin", cache: "no-store",
        headers: { "Content-Type": "application/json", "X-Transmission-Session-Id": sessionId },
      });
    } catch (e) {
      throw new RPCError(0, "the node's RPC is unreachable (" + e.message + "): is the node running?");
    }
    if (res.status === 409) {
      sessionId = res.headers.get("X-Transmission-Session-Id") || "";
      continue;
    }
    if (res.status === 401) {
      throw new RPCError(401, "401 Unauthorized: this browser has no valid credentials for the node's RPC (reload to log in)");
    }
    if (res.status === 403) {
      throw new RPCError(403, "403 Forbidden: the node refuses this client (-rpc-allow)");
    }
    if (res.status === 429) {
      throw new RPCError(429, "429 Too Many Requests: too many failed logins from this address; wait and reload");
    }
    if (!res.ok) {
      throw new RPCError(res.status, "HTTP " + res.status + " " + res.statusText + " from " + RPC_PATH);
    }
    let reply;
    try {
      reply = await res.json();
    } catch (e) {
      throw new RPCError(res.status, "unreadable reply to " + method + ": " + e.message);
    }
    if (reply.result !== "success") {
      throw new RPCError(res.status, method + ": " + reply.result);
    }
    return reply.arguments || {};
  }
  throw new RPCError(409, "the RPC kept answering 409 without a usable session id");
}

// Formatting.
function bytes(n) {
  if (!(n > 0)) return "0 B";
  const u = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n.toFixed(0) : n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0)) + " " + u[i];
}
function rate(n) { return n > 0 ? bytes(n) + "/s" : "–"; }
function percent(x) { return (x * 100).toFixed(x >= 1 ? 0 : 1) + " %"; }
function ratio(r) { return r === -1 ? "–" : r === -2 ? "∞" : r.toFixed(2); }
function count(n) { return Number(n).toLocaleString("en-US"); }
function duration(s) {
  s = Math.floor(s);
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  if (d > 0) return d + "d " + h + "h";
  if (h > 0) return h + "h " + m + "m";
  if (m > 0) return m + "m " + (s % 60) + "s";
  return s + "s";
}
function seconds(s) {
  if (s >= 1) return s.toFixed(2) + " s";
  if (s >= 1e-3) return (s * 1e3).toFixed(2) + " ms";
  return (s * 1e6).toFixed(1) + " µs";
}

// el makes an element; text goes in as text (torrent names come from the
// network and are never parsed as HTML).
function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}
// cell is a table cell showing text for a value kept raw in data-value,
// so tests and scripts read the number, not its formatting.
function cell(field, value, text, cls) {
  const attrs = { "data-field": field, "data-value": String(value) };
  if (cls) attrs.class = cls;
  return el("td", attrs, text);
}
function bar(field, fraction, label) {
  const td = el("td", { "data-field": field, "data-value": String(fraction) });
  const b = el("div", { class: fraction >= 1 ? "bar done" : "bar", role: "progressbar",
    "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": (fraction * 100).toFixed(1) });
  const fill = el("i");
  fill.style.width = Math.min(100, Math.max(0, fraction * 100)) + "%";
  b.append(fill, el("b", {}, label));
  td.append(b);
  return td;
}
function emptyRow(tbody, cols, text) {
  const tr = el("tr", { class: "empty" });
  tr.append(el("td", { colspan: String(cols) }, text));
  tbody.replaceChildren(tr);
}

function compare(a, b) {
  const x = a[sortKey], y = b[sortKey];
  let c = typeof x === "string" ? x.localeCompare(y) : x - y;
  if (c === 0) c = a.id - b.id;
  return c * sortDir;
}

function drawTorrents() {
  const q = ui.filter.value.trim().toLowerCase();
  const list = q ? torrents.filter(t => t.name.toLowerCase().includes(q)) : torrents.slice();
  list.sort(compare);
  const rows = list.slice(0, MAX_ROWS);
  ui.shown.textContent = list.length > rows.length
    ? "showing the first " + count(rows.length) + " of " + count(list.length) + " (sort or filter to see others)"
    : count(list.length) + (list.length === 1 ? " torrent" : " torrents") + (q ? " match" : "");
  ui.shown.dataset.total = String(list.length);
  ui.shown.dataset.shown = String(rows.length);
  if (rows.length === 0) {
    emptyRow(ui.torrents, 9, torrents.length ? "no torrent matches the filter" : "no torrents");
    return;
  }
  const frag = document.createDocumentFragment();
  for (const t of rows) {
    const tr = el("tr", { "data-testid": "torrent-row", "data-id": String(t.id) });
    const failed = t.error !== 0;
    tr.append(
      cell("id", t.id, String(t.id), "num"),
      cell("name", t.name, t.name, "name"),
      cell("status", t.status, failed ? "error: " + t.errorString : (STATUS[t.status] || "status " + t.status), failed ? "err" : ""),
      bar("percentDone", t.percentDone, percent(t.percentDone)),
      cell("sizeWhenDone", t.sizeWhenDone, bytes(t.sizeWhenDone), "num"),
      cell("rateDownload", t.rateDownload, rate(t.rateDownload), "num"),
      cell("rateUpload", t.rateUpload, rate(t.rateUpload), "num"),
      cell("peersConnected", t.peersConnected, count(t.peersConnected), "num"),
      cell("uploadRatio", t.uploadRatio, ratio(t.uploadRatio), "num"),
    );
    frag.append(tr);
  }
  ui.torrents.replaceChildren(frag);
}

function drawStats(s) {
  const extra = s.shardtorrent || { shards: [], plugins: [] };
  const peers = (extra.shards || []).reduce((n, sh) => n + sh.peers, 0);
  const cur = s["current-stats"] || {};
  const put = (field, value, text) => {
    const dd = ui.totals.querySelector('[data-field="' + field + '"]');
    dd.dataset.value = String(value);
    dd.textContent = text;
  };
  put("torrentCount", s.torrentCount, count(s.torrentCount));
  put("activeTorrentCount", s.activeTorrentCount, count(s.activeTorrentCount));
  put("pausedTorrentCount", s.pausedTorrentCount, count(s.pausedTorrentCount));
  put("peers", peers, count(peers));
  put("downloadSpeed", s.downloadSpeed, rate(s.downloadSpeed));
  put("uploadSpeed", s.uploadSpeed, rate(s.uploadSpeed));
  put("downloadedBytes", cur.downloadedBytes || 0, bytes(cur.downloadedBytes));
  put("uploadedBytes", cur.uploadedBytes || 0, bytes(cur.uploadedBytes));
  put("uptime", extra.uptimeSeconds || cur.secondsActive || 0, duration(extra.uptimeSeconds || cur.secondsActive || 0));

  const shards = extra.shards || [];
  if (shards.length === 0) {
    emptyRow(ui.shards, 7, "no shard figures");
  } else {
    ui.shards.replaceChildren(...shards.map(sh => {
      const tr = el("tr", { "data-testid": "shard-row", "data-id": String(sh.id) });
      tr.append(
        cell("id", sh.id, String(sh.id), "num"),
        cell("torrents", sh.torrents, count(sh.torrents), "num"),
        cell("peers", sh.peers, count(sh.peers), "num"),
        bar("busy", sh.busy, percent(sh.busy)),
        cell("iterationsPerSec", sh.iterationsPerSec, count(Math.round(sh.iterationsPerSec)), "num"),
        cell("downloadRate", sh.downloadRate, rate(sh.downloadRate), "num"),
        cell("uploadRate", sh.uploadRate, rate(sh.uploadRate), "num"),
      );
      return tr;
    }));
  }

  // Hooks a plugin implements but that have not run yet are counted, not
  // listed.
  const all = extra.plugins || [];
  const plugins = all.filter(p => p.calls > 0).sort((a, b) => b.seconds - a.seconds || b.calls - a.calls);
  const idle = all.length - plugins.length;
  ui.pluginsIdle.textContent = idle > 0 ? idle + (idle === 1 ? " hook" : " hooks") + " not called yet." : "";
  if (plugins.length === 0) {
    emptyRow(ui.plugins, 5, all.length ? "no plugin hook has run yet" : "no plugins");
  } else {
    ui.plugins.replaceChildren(...plugins.map(p => {
      const tr = el("tr", { "data-testid": "plugin-row" });
      tr.append(
        cell("plugin", p.plugin, p.plugin),
        cell("hook", p.hook, p.hook),
        cell("calls", p.calls, count(p.calls), "num"),
        // 0 s: none of its calls was timed yet (one in 64 is).
        cell("seconds", p.seconds, p.seconds > 0 ? seconds(p.seconds) : "–", "num"),
        cell("perCall", p.seconds / p.calls, p.seconds > 0 ? seconds(p.seconds / p.calls) : "–", "num"),
      );
      return tr;
    }));
  }
}

function showError(err) {
  ui.error.textContent = err.message;
  ui.error.dataset.status = String(err.status === undefined ? "" : err.status);
  ui.error.hidden = false;
  document.body.classList.add("stale");
  ui.state.textContent = "not updated since " + (ui.state.dataset.at || "the page loaded");
}

// refresh reads and draws everything once, then schedules the next; one
// runs at a time (a visibility change during one does not start another).
async function refresh() {
  if (inflight) return;
  inflight = true;
  clearTimeout(timer);
  try {
    const [tg, stats] = await Promise.all([
      rpc("torrent-get", { fields: TORRENT_FIELDS }),
      rpc("session-stats"),
    ]);
    torrents = tg.torrents || [];
    drawTorrents();
    drawStats(stats);
    ui.error.hidden = true;
    ui.error.textContent = "";
    document.body.classList.remove("stale");
    if (!ui.version.textContent) version(); // the first try failed (node down at load)
    refreshes++;
    const at = new Date().toLocaleTimeString();
    ui.state.dataset.at = at;
    ui.state.dataset.refreshes = String(refreshes);
    ui.state.textContent = "updated " + at + ", every " + REFRESH_MS / 1000 + " s";
  } catch (err) {
    showError(err);
  } finally {
    inflight = false;
    clearTimeout(timer);
    timer = setTimeout(refresh, REFRESH_MS);
  }
}

async function version() {
  try {
    const s = await rpc("session-get", { fields: ["version", "rpc-version"] });
    ui.version.textContent = (s.version || "") + (s["rpc-version"] ? " · RPC " + s["rpc-version"] : "");
  } catch (err) {
    // refresh() shows the same failure
  }
}

function setSort(th) {
  const key = th.dataset.sort;
  sortDir = key === sortKey ? -sortDir : (key === "name" || key === "id" ? 1 : -1);
  sortKey = key;
  for (const h of document.querySelectorAll("#torrents th[data-sort]")) h.removeAttribute("aria-sort");
  th.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
  drawTorrents();
}

for (const th of document.querySelectorAll("#torrents th[data-sort]")) {
  th.tabIndex = 0; // sortable from the keyboard too
  th.addEventListener("click", () => setSort(th));
  th.addEventListener("keydown", e => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); setSort(th); }
  });
  if (th.dataset.sort === sortKey) th.setAttribute("aria-sort", "ascending");
}
ui.filter.addEventListener("input", drawTorrents);
document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
version();
refresh();
