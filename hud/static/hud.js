// Beamline HUD: live timeline over a WebSocket, views polled from the read-only JSON API.
"use strict";
const $ = (sel) => document.querySelector(sel);
const SVG = "http://www.w3.org/2000/svg";
let beamCount = 0;
let replay = { eid: null, events: [], members: [], index: -1, timer: null };

function text(value) {
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toPrecision(4);
  return String(value);
}

function addBeam(beam) {
  const body = $("#timeline tbody");
  const row = document.createElement("tr");
  row.className = "beam stage-" + beam.stage;
  row.dataset.eid = beam.eid || "";
  const fields = Object.entries(beam.fields).map(([k, v]) => k + "=" + text(v)).join("  ");
  for (const cell of [beam.seq, beam.stage, beam.cell || "", beam.type, fields]) {
    const td = document.createElement("td");
    td.textContent = cell;
    row.appendChild(td);
  }
  body.insertBefore(row, body.firstChild);
  while (body.children.length > 300) body.removeChild(body.lastChild);
  beamCount += 1;
  $("#count").textContent = beamCount + " beams";
}

function connect() {
  const socket = new WebSocket(`ws://${location.host}/ws?after=0`);
  socket.onopen = () => { $("#status").textContent = "live"; };
  socket.onclose = () => { $("#status").textContent = "reconnecting…"; setTimeout(connect, 1000); };
  socket.onmessage = (msg) => {
    const data = JSON.parse(msg.data);
    data.beams.forEach(addBeam);
    scheduleRefresh();
  };
}

let refreshPending = false;
function scheduleRefresh() {
  if (refreshPending) return;
  refreshPending = true;
  setTimeout(() => { refreshPending = false; refreshViews(); }, 500);
}

async function getJSON(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(url + ": " + response.status);
  return response.json();
}

function drawGraph(graph) {
  const svg = $("#graph");
  svg.innerHTML = "";
  const pos = Object.fromEntries(graph.nodes.map((n) => [n.id, n]));
  for (const e of graph.edges) {
    const line = document.createElementNS(SVG, "line");
    line.setAttribute("class", "link");
    line.setAttribute("x1", pos[e.source].x); line.setAttribute("y1", pos[e.source].y);
    line.setAttribute("x2", pos[e.target].x); line.setAttribute("y2", pos[e.target].y);
    svg.appendChild(line);
  }
  for (const n of graph.nodes) {
    const circle = document.createElementNS(SVG, "circle");
    circle.setAttribute("class", "cell");
    circle.dataset.cell = n.id;
    circle.setAttribute("cx", n.x); circle.setAttribute("cy", n.y); circle.setAttribute("r", 0.06);
    const label = document.createElementNS(SVG, "text");
    label.setAttribute("class", "label");
    label.setAttribute("x", n.x + 0.08); label.setAttribute("y", n.y + 0.03);
    label.textContent = n.id;
    svg.appendChild(circle); svg.appendChild(label);
  }
}

function drawStats(stats) {
  const ops = $("#opcodes tbody");
  ops.innerHTML = "";
  for (const [op, row] of Object.entries(stats.opcodes)) {
    const tr = document.createElement("tr");
    for (const v of [op, row.count, row.flops, row.latency_ms]) {
      const td = document.createElement("td"); td.textContent = text(v); tr.appendChild(td);
    }
    ops.appendChild(tr);
  }
  const svg = $("#sqi");
  svg.innerHTML = "";
  const peak = Math.max(1, ...stats.sqi_histogram);
  stats.sqi_histogram.forEach((count, i) => {
    const bar = document.createElementNS(SVG, "rect");
    const h = (count / peak) * 95;
    bar.setAttribute("class", "bar");
    bar.setAttribute("x", i * 20 + 1); bar.setAttribute("width", 18);
    bar.setAttribute("y", 100 - h); bar.setAttribute("height", h);
    svg.appendChild(bar);
  });
  const prec = $("#precision tbody");
  prec.innerHTML = "";
  for (const [op, p] of Object.entries(stats.precision)) {
    const tr = document.createElement("tr");
    for (const v of [op, p.errors.bf16 ?? "", p.errors.fp8 ?? "", p.errors.int8 ?? "", p.recommended]) {
      const td = document.createElement("td"); td.textContent = text(v); tr.appendChild(td);
    }
    prec.appendChild(tr);
  }
  const vetoes = $("#vetoes");
  vetoes.innerHTML = "";
  for (const v of stats.vetoes) {
    const li = document.createElement("li");
    li.className = "veto";
    li.textContent = v.cell + ": " + v.reasons.join("; ");
    vetoes.appendChild(li);
  }
}

async function refreshViews() {
  const [graph, stats, eids] = await Promise.all([getJSON("/api/graph"), getJSON("/api/stats"), getJSON("/api/eids")]);
  drawGraph(graph);
  drawStats(stats);
  const select = $("#eid-select");
  const known = new Set(Array.from(select.options).map((o) => o.value));
  for (const e of eids.eids) {
    if (known.has(e.eid)) continue;
    const option = document.createElement("option");
    option.value = e.eid;
    option.textContent = e.members.join(" ↔ ") + "  (" + e.eid.slice(-8) + ")";
    select.appendChild(option);
  }
}

async function loadReplay(eid) {
  const data = await getJSON("/api/replay/" + encodeURIComponent(eid));
  replay = { eid, events: data.events, members: data.members, index: -1, timer: null };
  const list = $("#replay-events");
  list.innerHTML = "";
  for (const ev of data.events) {
    const li = document.createElement("li");
    li.textContent = `${ev.stage} ${ev.cell || ""} ${ev.type}`;
    list.appendChild(li);
  }
  step(1);
}

function step(delta) {
  if (!replay.events.length) return;
  replay.index = Math.max(0, Math.min(replay.events.length - 1, replay.index + delta));
  const ev = replay.events[replay.index];
  $("#replay-step").textContent = `step ${replay.index + 1}/${replay.events.length}: ${ev.stage} · ${ev.cell || ""} · ${ev.type}`;
  Array.from($("#replay-events").children).forEach((li, i) => li.classList.toggle("current", i === replay.index));
  document.querySelectorAll("circle.cell").forEach((c) => c.classList.toggle("lit", c.dataset.cell === ev.cell));
}

$("#eid-select").addEventListener("change", (e) => loadReplay(e.target.value));
$("#replay-prev").addEventListener("click", () => step(-1));
$("#replay-next").addEventListener("click", () => step(1));
$("#replay-play").addEventListener("click", () => {
  if (replay.timer) { clearInterval(replay.timer); replay.timer = null; return; }
  replay.timer = setInterval(() => {
    if (replay.index >= replay.events.length - 1) { clearInterval(replay.timer); replay.timer = null; return; }
    step(1);
  }, 400);
});
connect();
refreshViews();
