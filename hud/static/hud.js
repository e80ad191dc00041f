// Beamline HUD: live timeline over a WebSocket; panels polled from the read-only JSON API.
"use strict";
const $ = (sel) => document.querySelector(sel);
const SVG = "http://www.w3.org/2000/svg";
const MAX_ROWS = 300;
const PRECISION_OK = 1e-2; // stages/qwave/precision.py: MAX_REL_ERROR
let lastSeq = null;
let latestRun = null;
let replay = { eid: null, run: null, events: [], members: [], index: -1, timer: null };

// ------------------------------------------------------------------ formatting

function text(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toPrecision(4);
  if (typeof value === "string" && /^[0-9a-f]{17,}$/.test(value)) return value.slice(0, 8) + "…";
  return String(value);
}

function si(value) {
  const units = [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]];
  for (const [scale, unit] of units) if (Math.abs(value) >= scale) return (value / scale).toPrecision(3) + " " + unit;
  return text(value);
}

function fieldText(fields) {
  // The stage column already shows BeamEvent.stage.
  return Object.entries(fields).filter(([k]) => k !== "stage").map(([k, v]) => k + "=" + text(v)).join("  ");
}

function el(tag, cls, content) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (content !== undefined) node.textContent = content;
  return node;
}

function svgEl(tag, attrs, content) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (content !== undefined) node.textContent = content;
  return node;
}

function tableRow(cells) {
  const tr = document.createElement("tr");
  for (const [value, cls] of cells) tr.appendChild(el("td", cls || "", value));
  return tr;
}

// ------------------------------------------------------------------ live timeline

function addBeam(beam) {
  const body = $("#timeline tbody");
  const row = tableRow([[beam.seq, "num"], [beam.time.slice(11, 23)], [beam.stage, "stage"], [beam.cell || ""],
                        [beam.type], [fieldText(beam.fields), "fields"]]);
  row.className = "beam stage-" + beam.stage + (beam.fields.allowed === false ? " denied" : "");
  row.dataset.eid = beam.eid || "";
  row.dataset.cell = beam.cell || "";
  body.insertBefore(row, body.firstChild);
  while (body.children.length > MAX_ROWS) body.removeChild(body.lastChild);
  lastSeq = beam.seq;
  if (beam.run && beam.run !== latestRun) { latestRun = beam.run; $("#run").textContent = "run " + beam.run; }
}

function connect() {
  const after = lastSeq === null ? "" : "?after=" + lastSeq;
  const socket = new WebSocket(`ws://${location.host}/ws${after}`);
  socket.onopen = () => { $("#status").textContent = "live"; $("#status").className = "pill live"; };
  socket.onclose = () => {
    $("#status").textContent = "reconnecting…"; $("#status").className = "pill";
    setTimeout(connect, 1000);
  };
  socket.onmessage = (msg) => {
    JSON.parse(msg.data).beams.forEach(addBeam);
    scheduleRefresh();
  };
}

let refreshPending = false;
function scheduleRefresh() {
  if (refreshPending) return;
  refreshPending = true;
  setTimeout(() => { refreshPending = false; refreshViews(); }, 400);
}

async function getJSON(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(url + ": " + response.status);
  return response.json();
}

// ------------------------------------------------------------------ entanglement map

const MAP = { x0: 40, y0: 25, w: 290, h: 215 };

function drawGraph(graph) {
  const svg = $("#graph");
  svg.innerHTML = "";
  $("#graph-run").textContent = graph.run ? "run " + graph.run : "";
  if (!graph.nodes.length) {
    svg.appendChild(svgEl("text", { x: 200, y: 135, class: "placeholder" }, "no cells yet"));
    return;
  }
  const px = (n) => MAP.x0 + ((n.x + 1) / 2) * MAP.w;
  const py = (n) => MAP.y0 + ((n.y + 1) / 2) * MAP.h;
  const pos = Object.fromEntries(graph.nodes.map((n) => [n.id, n]));
  for (const e of graph.edges) {
    const a = pos[e.source], b = pos[e.target];
    svg.appendChild(svgEl("line", { class: "link", "data-eid": e.eid, "data-source": e.source,
                                    "data-target": e.target, x1: px(a), y1: py(a), x2: px(b), y2: py(b) }));
  }
  for (const n of graph.nodes) {
    const group = svgEl("g", { class: "node" });
    const circle = svgEl("circle", { class: "cell " + (n.decision || "pending"), "data-cell": n.id, "data-eid": n.eid,
                                     cx: px(n), cy: py(n), r: 9 });
    const verdict = n.decision ? `${n.decision}, qscore ${text(n.qscore)}` : "pending";
    circle.appendChild(svgEl("title", {}, `${n.id}: ${verdict}\n${n.eid}`));
    group.appendChild(circle);
    group.appendChild(svgEl("text", { class: "label", x: px(n) + 13, y: py(n) + 4 }, n.id));
    svg.appendChild(group);
  }
  highlight();
}

// Marks the replayed EID's cells and links, and the cell of the current step.
function highlight() {
  const ev = replay.index >= 0 ? replay.events[replay.index] : null;
  const sameRun = replay.run !== null && replay.run === graphRun();
  const members = new Set(sameRun ? replay.members : []);
  const current = ev && sameRun ? (ev.cell ? [ev.cell] : replay.members) : [];
  document.querySelectorAll("#graph circle.cell").forEach((c) => {
    c.classList.toggle("member", members.has(c.dataset.cell));
    c.classList.toggle("lit", current.includes(c.dataset.cell));
  });
  document.querySelectorAll("#graph line.link").forEach((l) => {
    l.classList.toggle("active", sameRun && l.dataset.eid === replay.eid);
  });
}

function graphRun() { return replay.run || latestRun; }

// ------------------------------------------------------------------ statistics panels

function drawOpcodes(opcodes) {
  const body = $("#opcodes tbody");
  body.innerHTML = "";
  for (const [op, row] of Object.entries(opcodes)) {
    body.appendChild(tableRow([[op, "op"], [row.cells, "num"], [si(row.flops), "num"], [row.latency_ms.toFixed(1), "num"]]));
  }
  if (!body.children.length) body.appendChild(tableRow([["no rewrites yet", "empty"]]));
}

function drawHistogram(counts, total) {
  const svg = $("#sqi");
  svg.innerHTML = "";
  $("#sqi-count").textContent = total + (total === 1 ? " score" : " scores");
  const peak = Math.max(1, ...counts);
  const left = 12, span = 376, bottom = 125, height = 100, width = span / counts.length;
  counts.forEach((count, i) => {
    const h = (count / peak) * height;
    const x = left + i * width;
    const bar = svgEl("rect", { class: "bar", "data-count": count, x: x + 1, width: width - 2, y: bottom - h, height: h });
    bar.appendChild(svgEl("title", {}, `qscore ${(i / counts.length).toFixed(1)}–${((i + 1) / counts.length).toFixed(1)}: ${count}`));
    svg.appendChild(bar);
    if (count) svg.appendChild(svgEl("text", { class: "count", x: x + width / 2, y: bottom - h - 4 }, count));
  });
  svg.appendChild(svgEl("line", { class: "axis", x1: left, y1: bottom, x2: left + span, y2: bottom }));
  for (const tick of [0, 0.5, 1]) {
    svg.appendChild(svgEl("text", { class: "tick", x: left + tick * span, y: bottom + 15 }, tick));
  }
  svg.appendChild(svgEl("text", { class: "tick", x: left + 0.75 * span, y: bottom + 15 }, "qscore"));
}

function drawCache(cache, run) {
  const mine = run && cache.runs[run];
  const part = mine ? ` · this run ${mine.hits}/${mine.misses}` : "";
  $("#cache").textContent = `compile cache: ${cache.hits} hits / ${cache.misses} misses${part}`;
}

function drawPrecision(precision) {
  const body = $("#precision tbody");
  body.innerHTML = "";
  for (const [op, p] of Object.entries(precision)) {
    const cells = [[op, "op"]];
    for (const format of ["bf16", "fp8", "int8"]) {
      const error = p.errors[format];
      if (error === undefined) cells.push(["", "num"]);
      else if (error === null) cells.push(["overflow", "num bad"]);
      else cells.push([error.toExponential(1), "num " + (error <= PRECISION_OK ? "ok" : "bad")]);
    }
    cells.push([p.recommended, "use"]);
    body.appendChild(tableRow(cells));
  }
  if (!body.children.length) body.appendChild(tableRow([["no profiles yet", "empty"]]));
}

function drawVetoes(vetoes, total) {
  const list = $("#vetoes");
  list.innerHTML = "";
  $("#veto-count").textContent = total ? String(total) : "";
  for (const v of vetoes) {
    const li = el("li", "veto");
    li.appendChild(el("span", "cell", v.cell));
    li.appendChild(el("span", "hint", v.run));
    li.appendChild(el("span", "rules", v.rules.join(", ")));
    li.appendChild(el("span", "reasons", v.reasons.join("; ")));
    list.appendChild(li);
  }
  if (!vetoes.length) list.appendChild(el("li", "empty", "no vetoes"));
}

function fillEids(eids) {
  const select = $("#eid-select");
  const wanted = eids.map((e) => e.eid).join("|");
  if (select.dataset.eids === wanted) return;
  select.dataset.eids = wanted;
  const chosen = select.value;
  select.querySelectorAll("optgroup").forEach((g) => g.remove());
  const groups = new Map();
  for (const e of eids) {
    if (!groups.has(e.run)) { groups.set(e.run, el("optgroup")); groups.get(e.run).label = "run " + e.run; }
    const option = el("option", "", e.members.join(" ↔ ") + "   · " + e.eid.slice(-6));
    option.value = e.eid;
    option.dataset.members = e.members.join(",");
    groups.get(e.run).appendChild(option);
  }
  for (const group of groups.values()) select.appendChild(group);
  if (chosen) select.value = chosen;
}

async function refreshViews() {
  try {
    const [stats, eids] = await Promise.all([getJSON("/api/stats"), getJSON("/api/eids")]);
    if (!latestRun && stats.latest_run) latestRun = stats.latest_run;
    const run = graphRun();
    const graph = await getJSON("/api/graph" + (run ? "?run=" + encodeURIComponent(run) : ""));
    $("#count").textContent = stats.events + " events stored";
    drawGraph(graph);
    drawOpcodes(stats.opcodes);
    drawCache(stats.compile_cache, run);
    drawHistogram(stats.sqi_histogram, stats.sqi_count);
    drawPrecision(stats.precision);
    drawVetoes(stats.vetoes, stats.veto_count);
    fillEids(eids.eids);
  } catch (error) {
    $("#status").textContent = "API error: " + error.message;
  }
}

// ------------------------------------------------------------------ GHX replay

async function loadReplay(eid) {
  stopPlaying();
  const data = await getJSON("/api/replay/" + encodeURIComponent(eid));
  replay = { eid, run: data.run, events: data.events, members: data.members, index: -1, timer: null };
  const list = $("#replay-events");
  list.innerHTML = "";
  for (const [i, ev] of data.events.entries()) {
    const li = el("li", "stage-" + ev.stage);
    li.appendChild(el("span", "n", i + 1));
    li.appendChild(el("span", "stage", ev.stage));
    li.appendChild(el("span", "cell", ev.cell || "·"));
    li.appendChild(el("span", "type", ev.type));
    li.appendChild(el("span", "fields", fieldText(ev.fields)));
    list.appendChild(li);
  }
  refreshViews();  // the map follows the run of the replayed EID
  step(1);
}

function step(delta) {
  if (!replay.events.length) return;
  replay.index = Math.max(0, Math.min(replay.events.length - 1, replay.index + delta));
  const ev = replay.events[replay.index];
  const where = ev.cell || replay.members.join(" ↔ ");
  const fields = fieldText(ev.fields);
  const box = $("#replay-step");
  box.textContent = `step ${replay.index + 1}/${replay.events.length} · ${ev.stage} · ${where} · ${ev.type}`
    + (fields ? " · " + fields : "");
  box.title = box.textContent;
  const items = $("#replay-events").children;
  Array.from(items).forEach((li, i) => li.classList.toggle("current", i === replay.index));
  const current = items[replay.index];
  const list = current.closest(".scroll");
  // Keep the current step in view without scrolling the page itself.
  if (current.offsetTop < list.scrollTop || current.offsetTop + current.offsetHeight > list.scrollTop + list.clientHeight) {
    list.scrollTop = current.offsetTop - list.clientHeight / 2;
  }
  highlight();
}

function stopPlaying() {
  if (replay.timer) clearInterval(replay.timer);
  replay.timer = null;
  $("#replay-play").textContent = "play";
}

function togglePlay() {
  if (replay.timer) { stopPlaying(); return; }
  if (replay.index >= replay.events.length - 1) replay.index = -1;
  $("#replay-play").textContent = "pause";
  replay.timer = setInterval(() => {
    if (replay.index >= replay.events.length - 1) { stopPlaying(); return; }
    step(1);
  }, 400);
}

$("#eid-select").addEventListener("change", (e) => loadReplay(e.target.value));
$("#replay-prev").addEventListener("click", () => step(-1));
$("#replay-next").addEventListener("click", () => step(1));
$("#replay-play").addEventListener("click", togglePlay);
document.addEventListener("keydown", (e) => {
  if (e.target.tagName === "SELECT") return;
  if (e.key === "ArrowLeft") step(-1);
  if (e.key === "ArrowRight") step(1);
});
connect();
refreshViews();
