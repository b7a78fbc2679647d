// The voicebot console: plain JavaScript over /api/v1 (no framework, nothing from outside).
// The token is kept in localStorage and sent as `Authorization: Bearer`; live calls are read
// from the Server-Sent Events stream with fetch (EventSource cannot send the header), and a
// recording is fetched the same way and given to the <audio> player as a blob.
"use strict";

const API = "/api/v1";
const PAGE = 25;
// the campaign dispositions (voicebot/campaign/results.py) keep their colour on every chart:
// reached in greens, still to do in blues, not reached in ambers, refused in reds, greys
const FIXED = { completed: "#1e7b34", confirmed: "#2e9e4a", promise_to_pay: "#2e9e4a",
  already_paid: "#6b8e23", pending: "#9cc3f0", in_flight: "#3a8ee6", callback: "#2bb3a3",
  machine: "#7b4ae6", machine_message: "#7b4ae6", busy: "#e6a23a", no_answer: "#d9b45f",
  unknown: "#c08a3e", max_attempts: "#8b5a2b", failed: "#b3261e", invalid: "#e65f5f",
  opt_out: "#e65fa8", dnc: "#555", no_window: "#9fb3c8", cancelled: "#777", rejected: "#bbb" };
const COLORS = ["#5fa8ff", "#4caf7a", "#f0c35f", "#a77be6", "#66c2b8", "#f08ac0"];
let timer = null;
let liveAbort = null;
let callsOffset = 0;
const colorOf = {};

function token() { return localStorage.getItem("voicebot-token") || ""; }

class Refused extends Error {}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {}, { Authorization: `Bearer ${token()}` });
  const res = await fetch(API + path, Object.assign({}, options, { headers }));
  if (res.status === 401) {
    localStorage.removeItem("voicebot-token");
    showLogin("That token is not valid.");
    throw new Refused("401");
  }
  return res;
}

async function json(path, options) {
  const res = await api(path, options);
  const body = await res.json();
  if (!res.ok) {
    const detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    throw new Error(detail || res.statusText);
  }
  return body;
}

// what went wrong (a 403, a refused transition), shown until the next page
function say(message) {
  const holder = document.getElementById("message");
  holder.textContent = message || "";
  holder.hidden = !message;
}
window.addEventListener("unhandledrejection", (e) => {
  if (!(e.reason instanceof Refused)) say(e.reason && e.reason.message ? e.reason.message : String(e.reason));
});

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(child ?? ""));
  }
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function color(name) {
  if (name in FIXED) return FIXED[name];
  if (!(name in colorOf)) colorOf[name] = COLORS[Object.keys(colorOf).length % COLORS.length];
  return colorOf[name];
}

// -- pages --------------------------------------------------------------------------------
function showLogin(message) {
  clearInterval(timer);
  document.querySelectorAll("main > section").forEach((s) => (s.hidden = s.id !== "login"));
  document.getElementById("login-error").textContent = message || "";
  document.getElementById("who").textContent = "";
  document.getElementById("sign-out").hidden = true;
}

async function showWho() {
  const me = await json("/whoami");
  document.getElementById("who").textContent = `${me.name} (${me.role})`;
  document.getElementById("sign-out").hidden = false;
}

function route() {
  clearInterval(timer);
  say("");
  if (liveAbort) { liveAbort.abort(); liveAbort = null; }
  if (!token()) { showLogin(); return; }
  if (!document.getElementById("who").textContent) showWho();
  const [page, arg] = (location.hash.slice(1) || "campaigns").split("/");
  document.querySelectorAll("main > section").forEach(
    (s) => (s.hidden = s.id !== `page-${page}`));
  document.querySelectorAll("nav a").forEach(
    (a) => a.classList.toggle("active", a.dataset.page === page));
  const pages = { campaigns, calls, call: () => call(decodeURIComponent(arg)), live, workers };
  (pages[page] || campaigns)();
}

// -- campaigns: live progress bars, disposition charts, create from a CSV -----------------
function dispositionChart(counts, total) {
  const width = 260, height = 18;
  const chart = svg("svg", { width, height: height + 14, role: "img", class: "dispositions" });
  let x = 0;
  const title = [];
  for (const [name, n] of Object.entries(counts)) {
    const w = total ? (n / total) * width : 0;
    const rect = svg("rect", { x, y: 0, width: w, height, fill: color(name) });
    const tip = svg("title"); tip.textContent = `${name}: ${n}`; rect.append(tip);
    chart.append(rect);
    x += w;
    title.push(`${name} ${n}`);
  }
  const label = svg("text", { x: 0, y: height + 12 });
  label.textContent = title.join(" · ");
  chart.append(label);
  chart.setAttribute("aria-label", title.join(", "));
  return chart;
}

async function loadCampaigns() {
  const rows = document.getElementById("campaign-rows");
  const list = await json("/campaigns");
  rows.replaceChildren(...list.map((c) => {
    const pct = c.total ? Math.round((100 * c.done) / c.total) : 100;
    const bar = el("div", { class: "bar", title: `${c.done}/${c.total}` },
      el("div", { style: `width:${pct}%` }));
    const actions = el("td");
    const allowed = { created: ["start", "cancel"], running: ["pause", "cancel"],
      paused: ["resume", "cancel"] }[c.state] || [];
    for (const action of allowed) {
      actions.append(el("button", { "data-action": action, onclick: async () => {
        await json(`/campaigns/${encodeURIComponent(c.name)}/${action}`, { method: "POST" });
        loadCampaigns();
      } }, action), " ");
    }
    actions.append(el("a", { href: `${API}/campaigns/${encodeURIComponent(c.name)}/export`,
      onclick: (e) => { e.preventDefault(); download(c.name); } }, "export"));
    return el("tr", { "data-campaign": c.name, "data-state": c.state },
      el("td", {}, c.name), el("td", { class: "state" }, c.state),
      el("td", {}, bar, ` ${c.done}/${c.total}`),
      el("td", {}, dispositionChart(c.counts, c.total)), actions);
  }));
}

async function download(name) {
  const res = await api(`/campaigns/${encodeURIComponent(name)}/export?format=csv`);
  const url = URL.createObjectURL(await res.blob());
  const a = el("a", { href: url, download: `${name}.csv` });
  document.body.append(a); a.click(); a.remove();
}

async function campaigns() {
  const select = document.getElementById("campaign-flow");
  const [flows] = await Promise.all([json("/flows"), loadCampaigns()]);  // at once, not in turn
  if (!select.options.length) {
    select.replaceChildren(...flows.map((f) => el("option", { value: f.name }, f.name)));
  }
  timer = setInterval(() => loadCampaigns().catch(() => {}), 1000);
}

document.getElementById("campaign-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  for (const key of ["max_concurrent", "cps"]) if (!form.get(key)) form.delete(key);
  const report = document.getElementById("campaign-report");
  const res = await api("/campaigns", { method: "POST", body: form });
  const body = await res.json();
  if (!res.ok) {
    report.textContent = [body.detail, ...(body.problems || [])].join("\n");
    return;
  }
  report.textContent = [`campaign ${body.campaign} created: ${body.accepted} contact(s), ` +
    `${body.dnc} on the do-not-call list, ${body.rejected} row(s) rejected of ${body.rows}`,
  ...body.report].join("\n");
  e.target.reset();
  loadCampaigns();
});

// -- calls: search, one call with transcript and recording --------------------------------
async function calls() {
  const form = new FormData(document.getElementById("call-search"));
  const q = new URLSearchParams({ limit: PAGE, offset: callsOffset });
  for (const [k, v] of form.entries()) if (v) q.set(k, v);
  const page = await json(`/calls?${q}`);
  document.getElementById("retention").textContent = (await json("/retention")).line;
  document.getElementById("calls-page").textContent =
    `${page.total ? page.offset + 1 : 0}-${page.offset + page.calls.length} of ${page.total}`;
  document.getElementById("call-rows").replaceChildren(...page.calls.map((c) => el("tr", {
    class: "link", "data-call": c.id, onclick: () => (location.hash = `call/${encodeURIComponent(c.id)}`),
  }, el("td", {}, c.started_at.slice(0, 19).replace("T", " ")), el("td", {}, c.direction),
  el("td", {}, c.from_uri), el("td", {}, c.to_uri), el("td", {}, c.flow),
  el("td", { class: "outcome" }, c.outcome),
  el("td", {}, c.duration == null ? "-" : c.duration.toFixed(1)))));
  document.getElementById("calls-prev").disabled = page.offset === 0;
  document.getElementById("calls-next").disabled = page.offset + page.calls.length >= page.total;
}

document.getElementById("call-search").addEventListener("submit", (e) => {
  e.preventDefault(); callsOffset = 0; calls();
});
document.getElementById("calls-prev").addEventListener("click", () => {
  callsOffset = Math.max(0, callsOffset - PAGE); calls();
});
document.getElementById("calls-next").addEventListener("click", () => {
  callsOffset += PAGE; calls();
});

function turnItem(t) {
  const what = t.text || (t.dtmf ? `[keys ${t.dtmf}]` : "");
  const meta = [t.who, t.step, t.latency_ms != null ? `${Math.round(t.latency_ms)} ms` : "",
    t.confidence != null ? `conf ${Number(t.confidence).toFixed(2)}` : ""].filter(Boolean);
  return el("li", { class: t.who }, el("div", { class: "said" }, what), el("div", { class: "meta" }, meta.join(" · ")));
}

async function call(id) {
  const c = await json(`/calls/${encodeURIComponent(id)}`);
  document.getElementById("call-id").textContent = c.id;
  const facts = { direction: c.direction, from: c.from_uri, to: c.to_uri, flow: c.flow,
    worker: c.worker, started: c.started_at, ended: c.ended_at || "-",
    outcome: c.outcome + (c.reason ? ` (${c.reason})` : ""),
    "turn latency": c.latencies_ms.length ? c.latencies_ms.map((l) => `${Math.round(l)} ms`).join(", ") : "-",
    steps: c.steps.join(" > ") };
  document.getElementById("call-facts").replaceChildren(
    ...Object.entries(facts).flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  document.getElementById("call-turns").replaceChildren(...c.turns.map(turnItem));
  document.getElementById("call-slots").textContent = JSON.stringify(c.slots, null, 2);
  const q = c.quality;
  const quality = document.getElementById("call-quality");
  quality.textContent = !q ? "not inspected" : `score ${q.score == null ? "-" : Math.round(q.score)}` +
    `/100 by ${q.rules.split("/").pop()} (${q.scored_at.slice(0, 19).replace("T", " ")})`;
  quality.title = q ? q.rules : "";
  document.getElementById("call-findings").replaceChildren(...(q ? q.findings : []).map((f) =>
    el("tr", { "data-rule": f.rule, class: f.status === "broken" ? "bad" : "" },
      el("td", {}, f.rule), el("td", {}, f.status), el("td", {}, f.turn ?? "-"),
      el("td", {}, f.weight), el("td", {}, f.detail || ""))));
  const holder = document.getElementById("call-audio");
  holder.replaceChildren();
  if (c.has_recording) {
    const res = await api(`/calls/${encodeURIComponent(id)}/recording`);
    if (res.ok) {
      const audio = el("audio", { controls: "", id: "recording" });
      audio.src = URL.createObjectURL(await res.blob());
      holder.append(el("h3", {}, "Recording"), audio);
    }
  }
}

// -- live calls: the transcript as it happens (SSE over fetch) ----------------------------
function liveBox(c) {
  const box = el("div", { class: "livecall" + (c.outcome ? " ended" : ""), "data-live": c.call_id },
    el("strong", {}, `${c.direction} ${c.from_uri} → ${c.to_uri}`),
    el("span", { class: "meta" }, ` ${c.flow} on ${c.worker} `),
    el("span", { class: "live-outcome" }, c.outcome || "in progress"),
    el("ol", { class: "transcript" }, ...c.turns.map(turnItem)));
  return box;
}

function applyLive(message) {
  const holder = document.getElementById("live-calls");
  if (message.type === "snapshot") {
    holder.replaceChildren(...message.calls.map(liveBox));
  } else if (message.type === "began") {
    holder.prepend(liveBox(message.call));
  } else {
    const box = holder.querySelector(`[data-live="${CSS.escape(message.call_id)}"]`);
    if (!box) return;
    if (message.type === "turn") box.querySelector("ol").append(turnItem(message.turn));
    if (message.type === "ended") {
      box.classList.add("ended");
      box.querySelector(".live-outcome").textContent = message.outcome;
    }
  }
}

async function live() {
  const state = document.getElementById("live-state");
  liveAbort = new AbortController();
  const signal = liveAbort.signal;
  try {
    const res = await api("/live/stream", { signal });
    state.textContent = "connected";
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
        const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6));
        if (data.length) applyLive(JSON.parse(data.join("\n")));
      }
    }
  } catch (err) {
    if (signal.aborted) return;
  }
  state.textContent = "reconnecting";
  setTimeout(() => { if (location.hash.startsWith("#live")) route(); }, 2000);
}

// -- workers' health ----------------------------------------------------------------------
async function loadWorkers() {
  const list = await json("/workers");
  document.getElementById("worker-rows").replaceChildren(...list.map((w) => el("tr", { "data-worker": w.name },
    el("td", {}, w.name), el("td", {}, w.sip_port ?? "-"), el("td", {}, w.pid ?? "-"),
    el("td", { class: w.healthy ? "ok" : "bad" }, w.healthy ? "healthy" : (w.alive ? "starting" : "down")),
    el("td", {}, w.calls), el("td", {}, w.restarts),
    el("td", {}, w.heartbeat_age == null ? "-" : `${w.heartbeat_age} s ago`))));
}

async function workers() {
  await loadWorkers();
  timer = setInterval(() => loadWorkers().catch(() => {}), 2000);
}

// -- start --------------------------------------------------------------------------------
document.getElementById("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const field = document.getElementById("token");
  localStorage.setItem("voicebot-token", field.value.trim());
  field.value = "";
  try { await showWho(); } catch (err) { return; }  // a wrong token: the sign-in says so
  route();
});
document.getElementById("sign-out").addEventListener("click", () => {
  localStorage.removeItem("voicebot-token");
  showLogin("Signed out.");
});
window.addEventListener("hashchange", route);
route();
