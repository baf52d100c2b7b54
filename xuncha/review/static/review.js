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
  $("f-first").textContent = fmtTime(c.first_seen);
  $("f-id").textContent = c.id;
  const cat = $("category");
  if (![...cat.options].some((o) => o.value === c.category.code)) cat.add(new Option(`${c.category.code} ${c.category.name}`, c.category.code));
  cat.value = c.category.code;
  $("reason-text").value = "";
  const next = queue[cur + 1]; // warm the cache: the next clue's pictures are there when it shows
  if (next && next.evidence) for (const e of Object.values(next.evidence)) if (!e.missing) new Image().src = e.url;
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
  const code = $("category").value;
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
$("scene").addEventListener("click", toggleZoom);
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
