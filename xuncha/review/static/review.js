// Review page: the queue, one clue at a time, keyboard-first. The next clue shows at once from the
// local queue; the list and its counts are refreshed from the server in the background.
"use strict";

const csrf = document.querySelector("meta[name=csrf-token]").content;
const REASONS = JSON.parse(document.getElementById("reason-data").textContent);
const $ = (id) => document.getElementById(id);

let queue = [];
let cur = 0;
let last = null; // {id, label}: the decision U undoes
let busy = false;
let loadSeq = 0;
const decided = new Set(); // ids decided here whose removal a stale list response must not undo

async function api(method, url, body) {
  const opts = {method, headers: {"X-CSRF-Token": csrf}};
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch(url, opts);
  if (resp.status === 401) { location.href = "/login?next=/"; throw new Error("请重新登录"); }
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(typeof data.detail === "string" ? data.detail : `请求失败 (${resp.status})`);
  return data;
}

let toastTimer = 0;
function toast(text, bad = false) {
  const t = $("toast");
  t.textContent = text;
  t.className = "toast show" + (bad ? " bad" : "");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.className = "toast"; }, bad ? 4000 : 2000);
}

function filters() {
  const q = new URLSearchParams({order: $("order").value, limit: "200"});
  document.querySelectorAll("select[data-filter]").forEach((s) => { if (s.value) q.set(s.dataset.filter, s.value); });
  if ($("phone").value.trim()) q.set("phone", $("phone").value.trim());
  return q;
}

async function loadQueue(keepId) {
  const seq = ++loadSeq;
  const data = await api("GET", "/api/clues?" + filters());
  if (seq !== loadSeq) return; // a newer load is on its way
  queue = data.items.filter((c) => !decided.has(c.id));
  $("total").textContent = Math.max(0, data.total - (data.items.length - queue.length));
  for (const [name, values] of Object.entries(data.facets)) {
    const sel = document.querySelector(`select[data-filter=${name}]`);
    const chosen = sel.value;
    sel.replaceChildren(new Option("全部", ""));
    for (const v of values) sel.add(new Option(`${v.label}（${v.count}）`, v.key));
    if (chosen && !values.some((v) => v.key === chosen)) sel.add(new Option(`${chosen}（0）`, chosen));
    sel.value = chosen;
  }
  const i = keepId ? queue.findIndex((c) => c.id === keepId) : -1;
  cur = i >= 0 ? i : Math.min(cur, Math.max(0, queue.length - 1));
  render();
}

function fmtTime(iso) {
  return iso ? new Date(iso).toLocaleString("zh-CN", {hour12: false}) : "";
}

function fmtDwell(s) {
  const m = Math.round(s / 60);
  return m >= 60 ? `${Math.floor(m / 60)} 小时 ${m % 60} 分钟` : m >= 1 ? `${m} 分钟` : `${Math.round(s)} 秒`;
}

function renderList() {
  const list = $("list");
  list.replaceChildren(...queue.map((c, i) => {
    const li = document.createElement("li");
    li.dataset.id = c.id;
    if (i === cur) li.className = "on";
    li.textContent = `${c.category.name}`;
    if (c.gone) { const b = document.createElement("span"); b.className = "badge"; b.textContent = "已消失"; li.append(b); }
    const small = document.createElement("small");
    small.textContent = `${c.camera.name} · ${fmtTime(c.first_seen)}`;
    li.append(small);
    li.addEventListener("click", () => { cur = i; render(); });
    return li;
  }));
  const on = list.querySelector("li.on");
  if (on) on.scrollIntoView({block: "nearest"});
}

// An image the worker reported but intake did not find (or that fails to load) is marked, not broken;
// a failed URL stays marked when the list refresh renders the clue again.
const failedImages = new Set();
function setImg(id, ev) {
  const img = $(id);
  const missing = !!ev && (ev.missing || failedImages.has(ev.url));
  img.closest("figure").classList.toggle("missing", missing);
  if (ev && !missing) img.src = ev.url; else img.removeAttribute("src");
}
for (const id of ["scene", "crop", "start"]) {
  $(id).addEventListener("error", () => {
    failedImages.add($(id).src.slice(location.origin.length));
    $(id).closest("figure").classList.add("missing");
  });
}

function render() {
  renderList();
  const c = queue[cur];
  $("empty").hidden = !!c;
  $("detail").hidden = !c;
  if (!c) return;
  const ev = c.evidence || {};
  setImg("scene", ev.scene);
  setImg("crop", ev.crop);
  setImg("start", ev.start);
  $("scene-time").textContent = ev.scene ? fmtTime(ev.scene.taken_at) : "";
  $("start-time").textContent = ev.start ? fmtTime(ev.start.taken_at) : "";
  $("f-status").textContent = c.status_label;
  $("f-category").textContent = `${c.category.code} ${c.category.name}`;
  $("f-camera").textContent = c.camera.name + (c.camera.preset ? `（预置位 ${c.camera.preset}）` : "");
  $("f-zone").textContent = c.zone.name;
  for (const [id, as] of [["link-zone", "zone"], ["link-mask", "mask"]]) {  // admins only: the zone editor
    const a = $(id);
    if (a) a.href = `/cameras/${encodeURIComponent(c.camera.id)}?preset=${encodeURIComponent(c.camera.preset || "")}` +
      `&clue=${encodeURIComponent(c.id)}&as=${as}`;
  }
  $("f-region").textContent = c.region ? c.region.name : "未知";
  $("f-location").textContent = c.location ? `${c.location.lon.toFixed(5)}, ${c.location.lat.toFixed(5)}` : "未知";
  $("f-dwell").textContent = fmtDwell(c.dwell_s);
  $("f-occ").textContent = c.occurrences;
  document.querySelectorAll(".text-row").forEach((el) => { el.hidden = !c.text; });
  $("f-text").textContent = c.text || "";
  $("f-phones").textContent = (c.phone_numbers || []).map((p) => {
    const n = (c.phone_counts || {})[p];
    return n && n.cameras > 1 ? `${p}（${n.cameras} 个摄像头、${n.clues} 条线索）` : p;
  }).join("，") || "未识别";
  $("f-model").textContent = `${c.model} · ${c.label} · ${(c.score * 100).toFixed(0)}%`;
  $("f-gating").textContent = c.gating ? c.gating.text : "";
  $("f-first").textContent = fmtTime(c.first_seen);
  $("f-id").textContent = c.id;
  const cat = $("category");
  if (![...cat.options].some((o) => o.value === c.category.code)) cat.add(new Option(`${c.category.code} ${c.category.name}`, c.category.code));
  cat.value = c.category.code;
  $("reason-text").value = "";
  showFix(c);
  const next = queue[cur + 1]; // warm the cache: the next clue's pictures are there when it shows
  // The pictures the page shows (not the clean frame the export reads).
  if (next && next.evidence) for (const k of ["scene", "crop", "start"]) { const e = next.evidence[k]; if (e && !e.missing) new Image().src = e.url; }
}

function move(step) {
  if (!queue.length) return;
  cur = Math.min(queue.length - 1, Math.max(0, cur + step));
  render();
}

async function decide(kind, body, label) {
  const c = queue[cur];
  if (!c || busy) return;
  busy = true;
  try {
    if (fixPending()) await saveFix(); // a drawn box or chosen category is not lost by deciding
    await api("POST", `/api/clues/${encodeURIComponent(c.id)}/${kind}`, body);
    decided.add(c.id);
    last = {id: c.id, label};
    queue.splice(cur, 1);
    cur = Math.min(cur, Math.max(0, queue.length - 1));
    $("total").textContent = Math.max(0, Number($("total").textContent) - 1);
    render();
    toast(`${label}：${c.category.name}（按 U 撤销）`);
    loadQueue(queue[cur] && queue[cur].id).catch((e) => toast(e.message, true));
  } catch (e) {
    toast(e.message, true);
    if (/已审核|不存在/.test(e.message)) loadQueue().catch(() => {});
  } finally {
    busy = false;
  }
}

function accept() {
  const c = queue[cur];
  if (!c) return;
  const code = (fixPending() && $("fix-category").value) || $("category").value; // an unsaved 分类更正 too
  decide("accept", code && code !== c.category.code ? {category: code} : {}, "已立案");
}

function reject(index) {
  const r = REASONS[index];
  if (!r) return;
  const text = $("reason-text").value.trim();
  if (r.needs_text && !text) {
    toast(`“${r.name}”需要填写说明，填写后按 Enter`, true);
    $("reason-text").dataset.pending = String(index);
    $("reason-text").focus();
    return;
  }
  decide("reject", {reason: r.code, text}, `已驳回（${r.name}）`);
}

async function undo() {
  if (!last || busy) return;
  busy = true;
  const target = last;
  try {
    await api("POST", `/api/clues/${encodeURIComponent(target.id)}/undo`);
    decided.delete(target.id);
    last = null;
    toast(`已撤销：${target.label}`);
    await loadQueue(target.id);
  } catch (e) {
    toast(e.message, true);
  } finally {
    busy = false;
  }
}

function toggleZoom() {
  const z = $("zoom");
  const c = queue[cur];
  if (!z.hidden || !c || !c.evidence.scene || $("scene").closest("figure").classList.contains("missing")) {
    z.hidden = true;
    return;
  }
  const img = $("zoom-img");
  img.src = c.evidence.scene.url;
  z.hidden = false;
  const center = () => {
    const scale = 2;
    img.style.width = `${img.naturalWidth * scale}px`;
    const [x1, y1, x2, y2] = c.box_norm;
    z.scrollLeft = ((x1 + x2) / 2) * img.naturalWidth * scale - z.clientWidth / 2;
    z.scrollTop = ((y1 + y2) / 2) * img.naturalHeight * scale - z.clientHeight / 2;
  };
  if (img.complete && img.naturalWidth) center(); else img.onload = center;
}

// Corrections (框选更正 / 分类更正): a box dragged on the scene picture (fractions of it, as box_norm)
// and/or another category, saved beside the decision for the training export.
let fix = {clueId: null, saved: null, box: null, drawing: false, start: null};

function fixPending() {
  const c = queue[cur];
  const code = $("fix-category").value;
  return !!c && c.id === fix.clueId && (!!fix.box || code !== ((fix.saved && fix.saved.category && fix.saved.category.code) || ""));
}

function drawFixBox(b) {
  const el = $("fix-box");
  el.hidden = !b;
  if (!b) return;
  const pct = (v) => `${(v * 100).toFixed(3)}%`;
  Object.assign(el.style, {left: pct(b[0]), top: pct(b[1]), width: pct(b[2] - b[0]), height: pct(b[3] - b[1])});
}

function setDrawing(on) {
  fix.drawing = on;
  fix.start = null;
  $("btn-draw").classList.toggle("on", on);
  $("scene").closest("figure").classList.toggle("drawing", on);
}

function showFixStatus() {
  const k = fix.saved;
  const st = $("fix-status");
  st.classList.toggle("done", !!k);
  if (!k) { st.textContent = fix.box ? "已画新框，未保存" : "未更正"; return; }
  const parts = [];
  if (k.category) parts.push(`类别 ${k.category.code} ${k.category.name}`);
  if (k.box_norm) parts.push("目标框已重画");
  st.textContent = `已更正：${parts.join("；")}（${k.by} ${fmtTime(k.at)}）` + (fix.box ? "；新框未保存" : "");
}

function applyFix() {
  const k = fix.saved;
  $("fix-category").value = k && k.category ? k.category.code : "";
  if (k && k.category) $("category").value = k.category.code; // 立案 files the corrected category
  drawFixBox(fix.box || (k && k.box_norm));
  showFixStatus();
}

function showFix(c) {
  if (c.id === fix.clueId) { // a list refresh: keep what is being drawn or chosen
    if (fix.saved && fix.saved.category) $("category").value = fix.saved.category.code;
    return;
  }
  fix = {clueId: c.id, saved: null, box: null, drawing: false, start: null};
  setDrawing(false);
  applyFix();
  $("fix-status").textContent = "…";
  api("GET", `/api/clues/${encodeURIComponent(c.id)}/correction`).then((data) => {
    if (fix.clueId !== c.id) return; // the operator moved on
    fix.saved = data.correction;
    applyFix();
  }).catch((e) => toast(e.message, true));
}

async function saveFix() {
  const c = queue[cur];
  if (!c || c.id !== fix.clueId) return;
  const box = fix.box || (fix.saved && fix.saved.box_norm) || null;
  const category = $("fix-category").value || null;
  const data = await api("POST", `/api/clues/${encodeURIComponent(c.id)}/correction`, {box_norm: box, category});
  if (fix.clueId !== c.id) return;
  fix.saved = data.correction;
  fix.box = null;
  setDrawing(false);
  applyFix();
  toast("已保存更正");
}

async function clearFix() {
  const c = queue[cur];
  if (!c || c.id !== fix.clueId) return;
  await api("DELETE", `/api/clues/${encodeURIComponent(c.id)}/correction`);
  fix.saved = null;
  fix.box = null;
  setDrawing(false);
  applyFix();
  $("category").value = c.category.code;
  toast("已清除更正");
}

function scenePoint(e) {
  const r = $("scene").getBoundingClientRect();
  const clamp = (v) => Math.min(1, Math.max(0, v));
  return [clamp((e.clientX - r.left) / r.width), clamp((e.clientY - r.top) / r.height)];
}

$("scene").addEventListener("mousedown", (e) => {
  if (!fix.drawing || e.button !== 0) return;
  e.preventDefault();
  fix.start = scenePoint(e);
});
window.addEventListener("mousemove", (e) => {
  if (!fix.start) return;
  const [x, y] = scenePoint(e);
  const [sx, sy] = fix.start;
  fix.box = [Math.min(sx, x), Math.min(sy, y), Math.max(sx, x), Math.max(sy, y)];
  drawFixBox(fix.box);
});
window.addEventListener("mouseup", () => {
  if (!fix.start) return;
  fix.start = null;
  const b = fix.box;
  if (b && (b[2] - b[0] < 0.005 || b[3] - b[1] < 0.005)) fix.box = null; // a click, not a box
  drawFixBox(fix.box || (fix.saved && fix.saved.box_norm));
  showFixStatus();
});
$("btn-draw").addEventListener("click", () => setDrawing(!fix.drawing));
$("btn-fix-save").addEventListener("click", () => saveFix().catch((e) => toast(e.message, true)));
$("btn-fix-clear").addEventListener("click", () => clearFix().catch((e) => toast(e.message, true)));

document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const tag = e.target.tagName;
  if (e.target.id === "reason-text" && e.key === "Enter") {
    e.preventDefault();
    const pending = e.target.dataset.pending;
    delete e.target.dataset.pending;
    e.target.blur();
    if (pending !== undefined) reject(Number(pending));
    return;
  }
  if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") {
    if (e.key === "Escape") e.target.blur();
    return;
  }
  const key = e.key.toLowerCase();
  if (key === "escape" || (key === "z")) { e.preventDefault(); if (key === "z" || !$("zoom").hidden) toggleZoom(); return; }
  if (!$("zoom").hidden) return;
  if (key === "j" || key === "n" || key === "arrowdown") { e.preventDefault(); move(1); }
  else if (key === "k" || key === "p" || key === "arrowup") { e.preventDefault(); move(-1); }
  else if (key === "a" || key === "enter") { e.preventDefault(); accept(); }
  else if (/^[1-9]$/.test(key)) { e.preventDefault(); reject(Number(key) - 1); }
  else if (key === "u") { e.preventDefault(); undo(); }
  else if (key === "c") { e.preventDefault(); $("category").focus(); }
  else if (key === "r") { e.preventDefault(); loadQueue(queue[cur] && queue[cur].id).catch((err) => toast(err.message, true)); }
});

$("btn-accept").addEventListener("click", accept);
$("btn-undo").addEventListener("click", undo);
$("scene").addEventListener("click", () => { if (!fix.drawing) toggleZoom(); });
$("zoom").addEventListener("click", toggleZoom);
document.querySelectorAll("#reasons button").forEach((b, i) => b.addEventListener("click", () => reject(i)));
document.querySelectorAll("select[data-filter], #order").forEach((s) => s.addEventListener("change", () => {
  cur = 0;
  loadQueue().catch((e) => toast(e.message, true));
  s.blur();
}));
let phoneTimer = 0; // search as the number is typed, once typing pauses
$("phone").addEventListener("input", () => {
  clearTimeout(phoneTimer);
  phoneTimer = setTimeout(() => { cur = 0; loadQueue().catch((e) => toast(e.message, true)); }, 300);
});
loadQueue().catch((e) => toast(e.message, true));
