// The presence dashboard: polls /api/overview and /api/history, follows
// /api/events (server-sent events) and draws the chart as inline SVG. No
// framework, no build step, nothing loaded from elsewhere. Every value from
// the server reaches the page through textContent, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const ACTIONS = ["join", "leave", "timeout", "state-change", "interval"];
const MAX_FEED = 200;

const state = {
  selected: null,       // the channel shown in the channel panel
  samples: [],          // chart samples, oldest first
  historyMs: 600000,
  sampleMs: 1000,
  paused: false,
  shown: new Set(ACTIONS),
  eventTimes: [],       // times of recent events, for the rate
  top: [],
};

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function fmt(n) { return Number(n).toLocaleString("en-US"); }

function clock(ms) {
  const d = new Date(ms);
  return d.toLocaleTimeString("en-GB", { hour12: false });
}

function plural(n, one, many) { return fmt(n) + " " + (n === 1 ? one : many); }

async function getJSON(url) {
  const r = await fetch(url, { cache: "no-store" });
  if (!r.ok) throw new Error(url + ": " + r.status);
  return r.json();
}

// ---- overview: counters, settings, busiest channels

function secs(s) { return s >= 60 && s % 60 === 0 ? s / 60 + " min" : s + " s"; }

async function refreshOverview() {
  let o;
  try {
    o = await getJSON("api/overview");
  } catch (e) {
    setConn("down", "backend unavailable");
    return;
  }
  if (state.connected) setConn("live", "live");
  $("title").textContent = o.title;
  document.title = o.title + " · presence dashboard";
  $("stat-uuids").textContent = fmt(o.uuids);
  $("stat-memberships").textContent = fmt(o.memberships);
  $("stat-channels").textContent = fmt(o.channels);
  $("stat-groups").textContent = fmt(o.groups);
  const s = o.settings;
  const im = s.announceMax < 0 ? "interval mode off" : "interval mode above " + s.announceMax + " every " + secs(s.interval);
  $("settings").textContent = "timeout " + secs(s.defaultTimeout) + " (" + secs(s.minTimeout) + "–" + secs(s.maxTimeout) + ") · " + im;
  state.sampleMs = o.sample;
  state.historyMs = o.history;
  const base = o.publicURL || "http://127.0.0.1:8090";
  $("try").textContent = 'curl "' + base + '/v2/presence/sub-key/demo/channel/lobby/heartbeat?uuid=ann&heartbeat=60"';
  renderTop(o.top);
}

function renderTop(top) {
  state.top = top;
  const list = $("top");
  const max = top.reduce((m, c) => Math.max(m, c.occupancy), 1);
  $("top-empty").hidden = top.length > 0;
  $("top-count").textContent = top.length ? "top " + top.length + " by occupancy" : "";
  const rows = list.children;
  for (let i = 0; i < top.length; i++) {
    const c = top[i];
    let li = rows[i];
    if (!li) {
      li = el("li");
      li.append(el("span", "name"), el("span", "occ"), el("div", "bar"));
      li.addEventListener("click", () => select(li.dataset.channel));
      list.append(li);
    }
    li.dataset.channel = c.channel;
    li.dataset.occupancy = c.occupancy;
    li.title = c.channel;
    li.children[0].textContent = c.channel;
    li.children[1].textContent = fmt(c.occupancy);
    li.children[2].style.width = Math.max(2, (100 * c.occupancy) / max) + "%";
    li.classList.toggle("selected", c.channel === state.selected);
  }
  while (rows.length > top.length) list.lastChild.remove();
}

// ---- the selected channel

function select(name) {
  name = (name || "").trim();
  if (!name) return;
  state.selected = name;
  history.replaceState(null, "", "#channel=" + encodeURIComponent(name));
  for (const li of $("top").children) li.classList.toggle("selected", li.dataset.channel === name);
  $("ch-name").textContent = name;
  refreshChannel(true);
  drawChart();
}

let channelTimer = null;
function channelSoon() {
  if (channelTimer) return;
  channelTimer = setTimeout(() => { channelTimer = null; refreshChannel(false); }, 150);
}

async function refreshChannel(reset) {
  const name = state.selected;
  if (!name) return;
  let c;
  try {
    c = await getJSON("api/channel?name=" + encodeURIComponent(name));
  } catch (e) {
    return;
  }
  if (name !== state.selected) return;
  const occ = $("ch-occupancy");
  occ.hidden = false;
  occ.textContent = plural(c.occupancy, "present", "present");
  occ.dataset.occupancy = c.occupancy;
  const body = $("occupants-body");
  const before = new Set(reset ? [] : Array.from(body.children, (tr) => tr.dataset.uuid));
  body.replaceChildren();
  for (const o of c.occupants) {
    const tr = el("tr");
    tr.dataset.uuid = o.uuid;
    if (!reset && !before.has(o.uuid)) tr.className = "fresh";
    const st = o.state === undefined ? "" : JSON.stringify(o.state);
    tr.append(el("td", "uuid", o.uuid), el("td", st ? "state has" : "state", st || "no state"));
    body.append(tr);
  }
  $("occupants").hidden = c.occupants.length === 0;
  $("ch-empty").hidden = c.occupants.length > 0;
  $("ch-empty").textContent = "No one is present on this channel.";
  const more = c.occupancy - c.occupants.length;
  $("ch-more").hidden = more <= 0;
  $("ch-more").textContent = "and " + plural(more, "more occupant", "more occupants") + " not listed";
}

// ---- the chart

async function refreshHistory() {
  const last = state.samples.length ? state.samples[state.samples.length - 1].time : 0;
  let add;
  try {
    add = await getJSON("api/history?since=" + last);
  } catch (e) {
    return;
  }
  state.samples.push(...add);
  const from = Date.now() - state.historyMs;
  let cut = 0;
  while (cut < state.samples.length && state.samples[cut].time < from - state.sampleMs) cut++;
  if (cut) state.samples.splice(0, cut);
  drawChart();
}

function spanText(ms) {
  return ms >= 120000 ? plural(Math.round(ms / 60000), "minute", "minutes") : plural(Math.round(ms / 1000), "second", "seconds");
}

// niceTick returns a tick spacing giving about six ticks over span ms:
// whole seconds below two minutes, whole minutes above.
function niceTick(span) {
  const steps = [5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600].map((s) => s * 1000);
  for (const s of steps) if (span / s <= 7) return s;
  return 3600000;
}

function niceStep(max, ticks) {
  const raw = Math.max(max, 1) / ticks;
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return Math.max(1, m * p);
  return 10 * p;
}

function svg(tag, attrs, parent) {
  const e = document.createElementNS(SVG, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.append(e);
  return e;
}

function series() {
  const s = [
    { key: "memberships", label: "memberships", color: "var(--accent)", get: (p) => p.memberships, area: true },
    { key: "uuids", label: "users online", color: "var(--green)", get: (p) => p.uuids },
  ];
  if (state.selected) {
    const name = state.selected;
    s.push({
      key: "channel", label: name, color: "var(--orange)", dash: "5 4",
      get: (p) => {
        const c = p.top.find((t) => t.channel === name);
        return c ? c.occupancy : null;
      },
    });
  }
  return s;
}

function drawChart() {
  const box = $("chart");
  const root = $("chart-svg");
  const W = box.clientWidth, H = box.clientHeight;
  root.setAttribute("viewBox", "0 0 " + W + " " + H);
  root.replaceChildren();
  const ss = series();
  const legend = $("legend");
  legend.replaceChildren(...ss.map((s) => {
    const e = el("span", "", s.label);
    e.style.setProperty("--c", s.color);
    return e;
  }));
  const pad = { l: 48, r: 12, t: 10, b: 24 };
  const now = state.samples.length ? Math.max(state.samples[state.samples.length - 1].time, Date.now() - 2000) : Date.now();
  // a dashboard younger than its window spans what it has (at least a minute)
  const span = state.samples.length ? Math.min(state.historyMs, Math.max(60000, now - state.samples[0].time)) : state.historyMs;
  $("window").textContent = spanText(span);
  const t0 = now - span;
  const pts = state.samples.filter((p) => p.time >= t0);
  let ymax = 0;
  for (const p of pts) for (const s of ss) { const v = s.get(p); if (v !== null && v > ymax) ymax = v; }
  const step = niceStep(ymax, 4);
  const top = Math.max(step, Math.ceil(ymax / step) * step);
  const x = (t) => pad.l + ((t - t0) / span) * (W - pad.l - pad.r);
  const y = (v) => pad.t + (1 - v / top) * (H - pad.t - pad.b);

  const grid = svg("g", { class: "grid" }, root);
  const axis = svg("g", { class: "axis" }, root);
  for (let v = 0; v <= top + 1e-9; v += step) {
    svg("line", { x1: pad.l, x2: W - pad.r, y1: y(v), y2: y(v) }, grid);
    svg("text", { x: pad.l - 8, y: y(v) + 4, "text-anchor": "end" }, axis).textContent = fmt(v);
  }
  const tickMs = niceTick(span);
  for (let back = 0; back <= span + 1; back += tickMs) {
    const t = now - back;
    const label = back === 0 ? "now" : (tickMs % 60000 === 0 ? "−" + back / 60000 + " min" : "−" + Math.round(back / 1000) + " s");
    svg("text", { x: x(t), y: H - 6, "text-anchor": back === 0 ? "end" : "middle" }, axis).textContent = label;
  }
  if (pts.length < 2) {
    svg("text", { class: "nodata", x: (pad.l + W) / 2, y: H / 2, "text-anchor": "middle" }, root).textContent = "collecting samples…";
    return;
  }
  for (const s of ss) {
    // a path per run of known values: a channel outside the sampled top list leaves a gap
    let d = "", run = [];
    const flush = () => {
      if (!run.length) return;
      d += "M" + run.map((p) => x(p.time).toFixed(1) + "," + y(s.get(p)).toFixed(1)).join("L");
      if (s.area && run.length > 1) {
        const area = "M" + x(run[0].time).toFixed(1) + "," + y(0) + "L" + run.map((p) => x(p.time).toFixed(1) + "," + y(s.get(p)).toFixed(1)).join("L") + "L" + x(run[run.length - 1].time).toFixed(1) + "," + y(0) + "Z";
        svg("path", { d: area, "fill-opacity": 0.12, stroke: "none" }, root).style.fill = s.color;
      }
      run = [];
    };
    for (const p of pts) { if (s.get(p) === null) flush(); else run.push(p); }
    flush();
    if (d) svg("path", { d, fill: "none", "stroke-width": 2, "stroke-dasharray": s.dash || "none", "stroke-linejoin": "round" }, root).style.stroke = s.color;
  }
  const cursor = svg("line", { y1: pad.t, y2: H - pad.b, "stroke-dasharray": "2 3", visibility: "hidden" }, root);
  cursor.style.stroke = "var(--muted)";
  root.onmousemove = (ev) => {
    const r = root.getBoundingClientRect();
    const t = t0 + ((ev.clientX - r.left - pad.l) / (W - pad.l - pad.r)) * span;
    let best = pts[0];
    for (const p of pts) if (Math.abs(p.time - t) < Math.abs(best.time - t)) best = p;
    cursor.setAttribute("x1", x(best.time));
    cursor.setAttribute("x2", x(best.time));
    cursor.setAttribute("visibility", "visible");
    const tip = $("tip");
    tip.hidden = false;
    tip.textContent = clock(best.time) + "  ·  " + ss.map((s) => { const v = s.get(best); return s.label + " " + (v === null ? "–" : fmt(v)); }).join("  ·  ");
    tip.style.left = Math.min(Math.max(x(best.time), 120), W - 120) + "px";
    tip.style.top = pad.t + 8 + "px";
  };
  root.onmouseleave = () => { $("tip").hidden = true; cursor.setAttribute("visibility", "hidden"); };
}

// ---- the live feed

function setupFilters() {
  const box = $("filters");
  for (const a of ACTIONS) {
    const b = el("button", "chip a-" + a, a);
    b.type = "button";
    b.setAttribute("aria-pressed", "true");
    b.addEventListener("click", () => {
      const on = b.getAttribute("aria-pressed") !== "true";
      b.setAttribute("aria-pressed", String(on));
      if (on) state.shown.add(a); else state.shown.delete(a);
      for (const li of $("feed").children) li.hidden = !state.shown.has(li.dataset.action);
    });
    box.append(b);
  }
  $("pause").addEventListener("click", () => {
    state.paused = !state.paused;
    $("pause").textContent = state.paused ? "Resume" : "Pause";
    $("pause").setAttribute("aria-pressed", String(state.paused));
  });
}

function lateText(s) {
  return s < 1 ? Math.round(s * 1000) + " ms" : s.toFixed(1) + " s";
}

function describe(ev) {
  switch (ev.action) {
    case "join": return ev.state ? "joined with state " + JSON.stringify(ev.state) : "joined";
    case "leave": return "left";
    case "timeout": return ev.late !== undefined ? "timed out, " + lateText(ev.late) + " after its deadline" : "timed out";
    case "state-change": return "state " + JSON.stringify(ev.state);
    case "interval": {
      const parts = [];
      if (ev.joined) parts.push("+" + ev.joined.length + " joined");
      if (ev.left) parts.push(ev.left.length + " left");
      if (ev.timedout) parts.push(ev.timedout.length + " timed out");
      if (ev.refresh) parts.push("too many changes: here_now refresh");
      return "occupancy update" + (parts.length ? ": " + parts.join(", ") : "");
    }
  }
  return ev.action;
}

function addEvent(ev, fresh) {
  if (fresh) state.eventTimes.push(Date.now());
  if (state.selected && ev.channel === state.selected) channelSoon();
  if (state.paused) return;
  const li = el("li", "a-" + ev.action + (fresh ? " new" : ""));
  li.dataset.action = ev.action;
  li.dataset.channel = ev.channel;
  if (ev.uuid) li.dataset.uuid = ev.uuid;
  li.hidden = !state.shown.has(ev.action);
  const what = el("span", "what");
  const ch = el("span", "ch", ev.channel);
  ch.title = "show " + ev.channel;
  ch.addEventListener("click", () => select(ev.channel));
  what.append(ch);
  if (ev.uuid) what.append(" · ", el("span", "uuid", ev.uuid));
  what.append(" ", el("span", "detail", describe(ev) + " → " + plural(ev.occupancy, "present", "present")));
  what.title = ev.channel + (ev.uuid ? " · " + ev.uuid : "") + " " + describe(ev);
  li.append(el("span", "t", clock(ev.time)), el("span", "act", ev.action), what);
  const feed = $("feed");
  feed.prepend(li);
  while (feed.children.length > MAX_FEED) feed.lastChild.remove();
  $("feed-empty").hidden = true;
}

function notice(text) {
  const n = $("notice");
  n.hidden = false;
  n.textContent = text;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => { n.hidden = true; }, 8000);
}

function setConn(kind, text) {
  const c = $("conn");
  c.className = "pill pill-" + kind;
  c.textContent = text;
}

function connect() {
  const es = new EventSource("api/events");
  let backlog = true;
  es.onopen = () => { state.connected = true; setConn("live", "live"); };
  es.onerror = () => { state.connected = false; setConn("wait", "reconnecting…"); backlog = true; };
  es.addEventListener("presence", (m) => {
    addEvent(JSON.parse(m.data), !backlog);
  });
  es.addEventListener("skipped", (m) => {
    notice(fmt(JSON.parse(m.data).count) + " events were skipped: they came faster than this page can show them.");
  });
  es.addEventListener("gap", () => {
    notice("The dashboard's event subscription fell behind and was renewed: some events are missing from the feed.");
  });
  es.addEventListener("ready", () => { backlog = false; }); // the recent events were sent: the rest is live
}

function rate() {
  const from = Date.now() - 60000;
  while (state.eventTimes.length && state.eventTimes[0] < from) state.eventTimes.shift();
  $("stat-rate").textContent = fmt(state.eventTimes.length);
}

function start() {
  setupFilters();
  $("lookup").addEventListener("submit", (e) => {
    e.preventDefault();
    select($("lookup-name").value);
    $("lookup-name").value = "";
  });
  const m = location.hash.match(/^#channel=(.+)$/);
  if (m) select(decodeURIComponent(m[1]));
  connect();
  refreshOverview();
  refreshHistory();
  setInterval(refreshOverview, 2000);
  setInterval(refreshHistory, 2000);
  setInterval(rate, 1000);
  setInterval(() => refreshChannel(false), 5000);
  window.addEventListener("resize", drawChart);
}

start();
