// 区域编辑器：在参考画面上画区域和屏蔽区，规则表单由服务端的 Rule 模型（标题、说明、取值范围）生成。
// 坐标一律存为 0-1 的比例（3 位小数）；校验只在服务端做，用的是 worker 自己的模型。
"use strict";
const DATA = JSON.parse(document.getElementById("editor-data").textContent);
const CAM = DATA.camera;
const csrf = document.querySelector("meta[name=csrf-token]").content;
const params = new URLSearchParams(location.search);
const $ = id => document.getElementById(id);
const canvas = $("canvas");
const ctx = canvas.getContext("2d");
const HIT = 9; // px: how close a click must be to a point
const ANCHORS = {bottom_center: "底边中点（目标落地处）", overlap: "重叠比例（大面积堆放）"};

const S = {
  zones: [], masks: [], sel: null, drawing: null, drag: null, undo: [],
  img: null, w: 16, h: 9, preset: "", schema: null, labels: [], sightings: [], ruleIndex: 0, vertex: null, selKey: null,
};

async function api(method, url, body) {
  const resp = await fetch(url, {method, headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
    body: body === undefined ? undefined : JSON.stringify(body)});
  return {ok: resp.ok, status: resp.status, data: await resp.json().catch(() => ({}))};
}
const q = () => "preset=" + encodeURIComponent(S.preset);
const camUrl = path => `/api/cameras/${encodeURIComponent(CAM)}${path}`;

// -- state and undo --------------------------------------------------------------------------------
const snapshot = () => JSON.stringify({zones: S.zones, masks: S.masks, sel: S.sel});
function change(fn) {
  S.undo.push(snapshot());
  fn();
  $("btn-undo").disabled = false;
  render();
}
function undo() {
  if (S.drawing) { S.drawing.points.pop(); if (!S.drawing.points.length) S.drawing = null; draw(); return; }
  const last = S.undo.pop();
  if (!last) return;
  Object.assign(S, JSON.parse(last));
  $("btn-undo").disabled = !S.undo.length;
  render();
}
const selected = () => (S.sel ? S[S.sel.kind][S.sel.i] : null);

function freeId(prefix) {
  const used = new Set([...S.zones, ...S.masks].map(z => z.id));
  let n = 1;
  while (used.has(prefix + n)) n++;
  return prefix + n;
}

// -- geometry ---------------------------------------------------------------------------------------
const toPx = ([x, y]) => [x * canvas.width, y * canvas.height];
function toNorm(ev) {
  const r = canvas.getBoundingClientRect();
  const x = Math.min(1, Math.max(0, (ev.clientX - r.left) / r.width));
  const y = Math.min(1, Math.max(0, (ev.clientY - r.top) / r.height));
  return [Math.round(x * 1000) / 1000, Math.round(y * 1000) / 1000];
}
function nearPoint(points, p) {
  const [px, py] = toPx(p);
  const scale = canvas.width / canvas.getBoundingClientRect().width;
  return points.findIndex(pt => { const [x, y] = toPx(pt); return Math.hypot(x - px, y - py) <= HIT * scale; });
}
function inside(points, [x, y]) {
  let c = false;
  for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
    const [xi, yi] = points[i], [xj, yj] = points[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) c = !c;
  }
  return c;
}
function nearEdge(points, p) {
  const [px, py] = toPx(p);
  const scale = canvas.width / canvas.getBoundingClientRect().width;
  for (let i = 0; i < points.length; i++) {
    const [ax, ay] = toPx(points[i]), [bx, by] = toPx(points[(i + 1) % points.length]);
    const len2 = (bx - ax) ** 2 + (by - ay) ** 2 || 1;
    const t = Math.max(0, Math.min(1, ((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / len2));
    if (Math.hypot(ax + t * (bx - ax) - px, ay + t * (by - ay) - py) <= HIT * scale) return i;
  }
  return -1;
}

// -- drawing ----------------------------------------------------------------------------------------
function path(points, close) {
  ctx.beginPath();
  points.forEach((p, i) => { const [x, y] = toPx(p); i ? ctx.lineTo(x, y) : ctx.moveTo(x, y); });
  if (close) ctx.closePath();
}
function sizeBoxes(zone) {
  // The smallest and largest box the rule's size range allows, at the zone's top and bottom edge.
  const rules = zoneRules(zone);
  const own = (zone.rules || []).length ? rules.length - zone.rules.length + Math.min(S.ruleIndex, zone.rules.length - 1) : 0;
  const rule = rules[own];
  if (!rule) return;
  const ys = zone.polygon.map(p => p[1]), xs = zone.polygon.map(p => p[0]);
  const cx = (Math.min(...xs) + Math.max(...xs)) / 2 * canvas.width;
  ctx.setLineDash([6, 4]);
  ctx.strokeStyle = "#f1c40f";
  ctx.lineWidth = 2;
  for (const area of [rule.min_area ?? 0, rule.max_area ?? 1]) {
    if (area <= 0 || area >= 1) continue;
    const side = Math.sqrt(area * canvas.width * canvas.height);
    for (const y of [Math.min(...ys), Math.max(...ys)]) ctx.strokeRect(cx - side / 2, y * canvas.height - side, side, side);
  }
  ctx.setLineDash([]);
}
function covered(b, by) {
  // Intersection over b's own area (the worker's exclude_labels test).
  const w = Math.min(b.box[2], by.box[2]) - Math.max(b.box[0], by.box[0]);
  const h = Math.min(b.box[3], by.box[3]) - Math.max(b.box[1], by.box[1]);
  const area = (b.box[2] - b.box[0]) * (b.box[3] - b.box[1]);
  return w > 0 && h > 0 && area > 0 ? (w * h) / area : 0;
}

function wouldCount(rule, b, others) {
  // The worker's test for one rule on the polygon as drawn now; `others` are the same sample's boxes.
  const [x1, y1, x2, y2] = b.box;
  const area = (x2 - x1) * (y2 - y1);
  if (!(rule.labels || []).includes(b.label) || b.score < (rule.min_score ?? 0.25)) return false;
  if (area < (rule.min_area ?? 0) || area > (rule.max_area ?? 1)) return false;
  const exclude = rule.exclude_labels || [];
  if (others.some(o => o !== b && exclude.includes(o.label) && covered(b, o) >= (rule.exclude_overlap ?? 0.3))) return false;
  const poly = selected().polygon;
  if ((rule.anchor ?? "bottom_center") === "bottom_center") return inside(poly, [(x1 + x2) / 2, y2]);
  let hit = 0;
  for (let i = 0; i < 8; i++) for (let j = 0; j < 8; j++) hit += inside(poly, [x1 + (i + 0.5) * (x2 - x1) / 8, y1 + (j + 0.5) * (y2 - y1) / 8]);
  return hit / 64 >= (rule.min_overlap ?? 0.5);
}

function drawSightings() {
  // The last hour's detections: with a zone selected, green = its rules would count it as drawn now;
  // otherwise orange = it counted in a zone when it was seen. The dot is the box's bottom centre.
  const z = S.sel && S.sel.kind === "zones" ? selected() : null;
  const rules = z ? zoneRules(z) : [];
  let counted = 0;
  for (const s of S.sightings) {
    for (const b of s.boxes) {
      const hit = z ? rules.some(r => wouldCount(r, b, s.boxes)) : b.zones.length > 0;
      counted += hit;
      const [x1, y1, x2, y2] = b.box.map((v, i) => v * (i % 2 ? canvas.height : canvas.width));
      ctx.strokeStyle = hit ? (z ? "#2ecc71" : "#ff7f0e") : "rgba(200,200,200,0.6)";
      ctx.lineWidth = hit ? 2 : 1;
      ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
      ctx.fillStyle = ctx.strokeStyle;
      ctx.beginPath(); ctx.arc((x1 + x2) / 2, y2, hit ? 4 : 2.5, 0, 7); ctx.fill();
    }
  }
  $("sighting-info").textContent = S.sightings.length
    ? `近一小时 ${S.sightings.length} 帧的检测框：` + (z ? `按当前画法，本区域会计入 ${counted} 个` : `当时计入区域 ${counted} 个`)
    : "近一小时没有检测数据";
}

function draw() {
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (S.img) ctx.drawImage(S.img, 0, 0, canvas.width, canvas.height);
  else {
    ctx.fillStyle = "#555"; ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.fillStyle = "#ddd"; ctx.font = `${Math.round(canvas.width / 40)}px sans-serif`;
    ctx.fillText("暂无参考画面：点“获取最新画面”，worker 取到下一帧后显示", canvas.width * 0.05, canvas.height / 2);
  }
  drawSightings();
  for (const kind of ["masks", "zones"]) {
    S[kind].forEach((z, i) => {
      const on = S.sel && S.sel.kind === kind && S.sel.i === i;
      const rgb = kind === "zones" ? "58,123,213" : "192,57,43";
      path(z.polygon, true);
      ctx.fillStyle = `rgba(${rgb},${on ? 0.35 : 0.2})`; ctx.fill();
      ctx.strokeStyle = `rgb(${rgb})`; ctx.lineWidth = on ? 3 : 2; ctx.stroke();
      const [x, y] = toPx(z.polygon[0]);
      ctx.fillStyle = "#fff"; ctx.font = `${Math.round(canvas.width / 60)}px sans-serif`;
      ctx.fillText(z.name || z.id, x + 4, y - 6);
      if (on) {
        z.polygon.forEach((p, k) => {
          const [px, py] = toPx(p);
          const r = k === S.vertex ? 8 : 5;
          ctx.fillStyle = k === S.vertex ? "#f1c40f" : "#fff";
          ctx.fillRect(px - r, py - r, 2 * r, 2 * r);
        });
        if (kind === "zones") sizeBoxes(z);
      }
    });
  }
  if (S.drawing) {
    const pts = S.drawing.points;
    path(pts, false);
    ctx.strokeStyle = "#2ecc71"; ctx.lineWidth = 2; ctx.stroke();
    pts.forEach((p, i) => {
      const [x, y] = toPx(p);
      ctx.fillStyle = i === 0 ? "#2ecc71" : "#fff";
      ctx.beginPath(); ctx.arc(x, y, i === 0 ? 8 : 5, 0, 7); ctx.fill();
    });
  }
}

// -- the list and the form ----------------------------------------------------------------------------
function renderItems() {
  const ul = $("items");
  ul.replaceChildren();
  for (const kind of ["zones", "masks"]) {
    S[kind].forEach((z, i) => {
      const li = document.createElement("li");
      li.className = (kind === "masks" ? "mask" : "zone") + (S.sel && S.sel.kind === kind && S.sel.i === i ? " on" : "");
      li.textContent = `${kind === "masks" ? "屏蔽区" : "区域"} ${z.name || z.id}（${z.polygon.length} 点）`;
      li.onclick = () => { S.sel = {kind, i}; S.ruleIndex = 0; render(); };
      ul.append(li);
    });
  }
}

function input(label, value, onchange, attrs = {}) {
  const l = document.createElement("label");
  l.append(label);
  const el = document.createElement(attrs.tag || "input");
  for (const [k, v] of Object.entries(attrs)) if (k !== "tag" && k !== "options") el.setAttribute(k, v);
  for (const [v, text] of attrs.options || []) el.add(new Option(text, v));
  if (el.type === "checkbox") el.checked = !!value; else el.value = value ?? "";
  el.addEventListener("change", () => onchange(el.type === "checkbox" ? el.checked : el.value, el));
  l.append(el);
  return l;
}

function propType(p) {
  if (p.type) return p.type;
  const t = (p.anyOf || []).find(x => x.type && x.type !== "null");
  return t ? t.type : null;
}

function scenePicker(z, p) {
  const scenes = S.schema.scenes;
  const l = input(p.title, (z.scene || [])[0] || "", v => change(() => { z.scene = v ? [v, ...(z.scene || []).slice(1)] : []; }),
    {tag: "select", name: "scene", title: p.description || "",
     options: [["", "（不用场景，自己写规则）"], ...scenes.map(sc => [sc.id, `${sc.title}（${sc.category}）`])]});
  const sc = scenes.find(x => x.id === (z.scene || [])[0]);
  if (!sc) return l;
  const box = document.createElement("div");
  box.className = "scene-info";
  const missing = S.labels.length ? sc.labels.filter(lab => !S.labels.includes(lab)) : [];
  box.textContent = `${sc.purpose} ${sc.how}` + (sc.failure_modes.length ? ` 已知局限：${sc.failure_modes.join("；")}` : "");
  if (missing.length) {
    const warn = document.createElement("b");
    warn.className = "error";
    warn.textContent = ` worker 的模型没有标签 ${missing.join("、")}，此场景在这些点位不会报警。`;
    box.append(warn);
  }
  const wrap = document.createElement("div");
  wrap.append(l, box);
  return wrap;
}

function zoneRules(zone) {
  // What the zone applies: its scene's rules, then its own (for the size-range boxes).
  const fromScenes = (zone.scene || []).flatMap(id => (S.schema.scenes.find(x => x.id === id) || {rules: []}).rules);
  return [...fromScenes, ...(zone.rules || [])];
}

function ruleField(rule, key, p) {
  // One control per Rule field, from its JSON schema: title as the label, description as the tooltip.
  const title = p.title || key;
  const set = v => change(() => { if (v === "" || v === null) delete rule[key]; else rule[key] = v; });
  const attrs = {title: p.description || "", name: key};
  if (key === "category") {
    return input(title, rule.category, set, {...attrs, tag: "select",
      options: [["", "（选择类别）"], ...DATA.categories.map(c => [c.code, `${c.code} ${c.name}`])]});
  }
  if (p.enum) {
    return input(title, rule[key] ?? p.default, set, {...attrs, tag: "select",
      options: p.enum.map(v => [v, ANCHORS[v] || v])});
  }
  const type = propType(p);
  if (type === "array") {
    const l = input(title, (rule[key] || []).join(", "),
      v => set(v.split(/[,，\s]+/).filter(Boolean)), {...attrs, placeholder: key.endsWith("hours") ? "08:00-20:00" : "逗号分隔"});
    if (key.endsWith("labels") && S.labels.length) {
      const pick = document.createElement("select");
      pick.name = key + "-pick";
      pick.add(new Option("＋ 选标签", ""));
      for (const lab of S.labels) pick.add(new Option(lab, lab));
      pick.onchange = () => { if (pick.value) set([...(rule[key] || []), pick.value].filter((v, i, a) => a.indexOf(v) === i)); };
      const box = document.createElement("span");
      box.className = "label-pick";
      box.append(l.lastChild, pick);
      l.append(box);
    }
    return l;
  }
  if (type === "number" || type === "integer") {
    const num = {...attrs, type: "number", step: p.maximum === 1 ? "0.001" : "1"};
    if (p.minimum !== undefined) num.min = p.minimum;
    if (p.exclusiveMinimum !== undefined) num.min = p.exclusiveMinimum;
    if (p.maximum !== undefined) num.max = p.maximum;
    if (p.default === undefined || p.default === null) num.placeholder = "默认";
    return input(title, rule[key] ?? p.default, v => set(v === "" ? null : Number(v)), num);
  }
  if (type === "boolean") return input(title, rule[key] ?? p.default, set, {...attrs, type: "checkbox"});
  return null; // nested settings (e.g. text patterns) are kept as they are, not edited here
}

function renderForm() {
  const form = $("item-form");
  form.replaceChildren();
  const z = selected();
  form.hidden = !z;
  if (!z) return;
  const kind = S.sel.kind;
  const model = S.schema[kind === "zones" ? "zone" : "mask"].properties;
  form.append(input(model.id.title, z.id, v => change(() => { z.id = v.trim(); }), {name: "id", title: model.id.description}));
  form.append(input(model.name.title, z.name, v => change(() => { z.name = v.trim(); }), {name: "name", title: model.name.description}));
  if (kind === "masks") return;
  // Zone-level settings from the Zone schema; the scene picker offers the scene catalogue.
  for (const [key, p] of Object.entries(model)) {
    if (["id", "name", "polygon", "rules"].includes(key)) continue;
    if (key === "scene") form.append(scenePicker(z, p));
    else { const el = ruleField(z, key, p); if (el) form.append(el); }
  }
  const rules = S.schema.rule.properties;
  z.rules.forEach((rule, ri) => {
    const fs = document.createElement("fieldset");
    const legend = document.createElement("legend");
    legend.textContent = `规则 ${ri + 1}`;
    fs.append(legend);
    fs.addEventListener("focusin", () => { if (S.ruleIndex !== ri) { S.ruleIndex = ri; draw(); } });
    for (const [key, p] of Object.entries(rules)) {
      const el = ruleField(rule, key, p);
      if (el) fs.append(el);
    }
    {
      const del = document.createElement("button");
      del.type = "button"; del.textContent = "删除此规则";
      del.onclick = () => change(() => z.rules.splice(ri, 1));
      fs.append(del);
    }
    form.append(fs);
  });
  const add = document.createElement("button");
  add.type = "button"; add.textContent = "添加规则";
  add.onclick = () => change(() => z.rules.push({category: "", labels: []}));
  form.append(add);
}

function render() {
  const key = S.sel ? S.sel.kind + S.sel.i : null;
  if (key !== S.selKey) { S.selKey = key; S.vertex = null; }
  const z = selected();
  if (z && S.vertex !== null && S.vertex >= z.polygon.length) S.vertex = null;
  renderItems(); renderForm(); draw();
}

// -- mouse and keyboard -------------------------------------------------------------------------------
function startDrawing(kind) { S.drawing = {kind, points: []}; S.sel = null; render(); canvas.focus(); }
function finishDrawing() {
  const d = S.drawing;
  if (!d || d.points.length < 3) return;
  S.drawing = null;
  change(() => {
    const n = S[d.kind].length;
    if (d.kind === "zones") {
      const id = freeId("z");
      S.zones.push({id, name: d.name || "区域" + id.slice(1), enabled: true, polygon: d.points, scene: [],
        rules: d.rule ? [d.rule] : []});
    } else {
      const id = freeId("m");
      S.masks.push({id, name: d.name || "屏蔽区" + id.slice(1), polygon: d.points});
    }
    S.sel = {kind: d.kind, i: n};
  });
}

canvas.addEventListener("mousedown", ev => {
  if (ev.button !== 0) return;
  canvas.focus();
  const p = toNorm(ev);
  if (S.drawing) {
    const pts = S.drawing.points;
    if (pts.length >= 3 && nearPoint([pts[0]], p) === 0) finishDrawing();
    else { pts.push(p); draw(); }
    return;
  }
  const z = selected();
  if (z) {
    const i = nearPoint(z.polygon, p);
    if (i >= 0) { S.undo.push(snapshot()); S.drag = i; $("btn-undo").disabled = false; return; }
  }
  for (const kind of ["zones", "masks"]) {
    const i = S[kind].findIndex(item => inside(item.polygon, p));
    if (i >= 0) { S.sel = {kind, i}; S.ruleIndex = 0; render(); return; }
  }
});
canvas.addEventListener("mousemove", ev => {
  if (S.drag === null || !selected()) return;
  selected().polygon[S.drag] = toNorm(ev);
  draw();
});
window.addEventListener("mouseup", () => { if (S.drag !== null) { S.drag = null; renderItems(); } });
canvas.addEventListener("contextmenu", ev => {
  ev.preventDefault();
  const z = selected();
  if (!z) return;
  const i = nearPoint(z.polygon, toNorm(ev));
  if (i >= 0 && z.polygon.length > 3) change(() => z.polygon.splice(i, 1));
});
canvas.addEventListener("dblclick", ev => {
  const z = selected();
  if (!z || S.drawing) return;
  const p = toNorm(ev);
  const i = nearEdge(z.polygon, p);
  if (i >= 0 && nearPoint(z.polygon, p) < 0) change(() => z.polygon.splice(i + 1, 0, p));
});

document.addEventListener("keydown", ev => {
  const typing = /^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement.tagName);
  if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === "s") { ev.preventDefault(); save(); return; }
  if (typing) return;
  if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === "z") { ev.preventDefault(); undo(); return; }
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const key = ev.key.toLowerCase();
  if (key === "n") startDrawing("zones");
  else if (key === "m") startDrawing("masks");
  else if (ev.key === "Enter") finishDrawing();
  else if ((ev.key === "[" || ev.key === "]") && selected()) {  // pick a point for the arrow keys
    const n = selected().polygon.length;
    S.vertex = ((S.vertex ?? (ev.key === "]" ? -1 : 0)) + (ev.key === "]" ? 1 : n - 1)) % n;
    draw();
  } else if (ev.key.startsWith("Arrow") && selected() && S.vertex !== null) {
    const step = ev.shiftKey ? 0.02 : 0.005;
    const [dx, dy] = {ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step]}[ev.key];
    const p = selected().polygon[S.vertex];
    const clamp = v => Math.round(Math.min(1, Math.max(0, v)) * 1000) / 1000;
    change(() => { selected().polygon[S.vertex] = [clamp(p[0] + dx), clamp(p[1] + dy)]; });
  }
  else if (ev.key === "Escape") { S.drawing = null; draw(); }
  else if ((ev.key === "Delete" || ev.key === "Backspace") && S.sel) {
    ev.preventDefault();
    const {kind, i} = S.sel;
    change(() => { S[kind].splice(i, 1); S.sel = null; });
  } else return;
  ev.preventDefault();
});
$("btn-new-zone").onclick = () => startDrawing("zones");
$("btn-new-mask").onclick = () => startDrawing("masks");
$("btn-undo").onclick = undo;
$("btn-save").onclick = () => save();
$("preset-form").addEventListener("submit", e => {  // each PTZ preset has its own zone set and picture
  e.preventDefault();
  location.search = "?preset=" + encodeURIComponent($("preset").value.trim());
});
$("btn-copy").onclick = async () => {
  const to = $("copy-to").value.split(/[,，\s]+/).filter(Boolean);
  if (!to.length) return;
  const {ok, data} = await api("POST", camUrl("/zones/copy?" + q()), {to});
  const errors = $("errors");
  errors.replaceChildren();
  if (ok) $("status").textContent = "已复制（已保存的最新版本）到 " + Object.entries(data.versions).map(([c, v]) => `${c} 版本 ${v}`).join("、");
  else for (const p of data.problems || [String(data.detail)]) { const li = document.createElement("li"); li.textContent = p; errors.append(li); }
};

// -- server ---------------------------------------------------------------------------------------------
async function save() {
  const errors = $("errors");
  errors.replaceChildren();
  $("status").textContent = "保存中…";
  const {ok, data} = await api("PUT", camUrl("/zones?" + q()), {zones: S.zones, masks: S.masks});
  if (!ok) {
    $("status").textContent = "未保存";
    for (const p of data.problems || [typeof data.detail === "string" ? data.detail : "保存失败"]) {
      const li = document.createElement("li"); li.textContent = p; errors.append(li);
    }
    return;
  }
  $("status").textContent = `已保存为版本 ${data.version}，worker 几秒内生效`;
  loadVersions();
}

async function loadVersions() {
  const {data} = await api("GET", camUrl("/zones?" + q()));
  const ol = $("versions");
  ol.replaceChildren();
  for (const v of data.versions) {
    const li = document.createElement("li");
    li.textContent = `版本 ${v.version} · ${v.saved_by} · ${new Date(v.saved_at).toLocaleString("zh-CN")}${v.note ? " · " + v.note : ""}：` +
      (v.changes.join("；") || "无变化");
    if (v !== data.versions[0]) {
      const back = document.createElement("button");
      back.type = "button"; back.textContent = "恢复此版本";
      back.onclick = async () => {
        const r = await api("POST", camUrl("/zones/revert?" + q()), {version: v.version});
        if (r.ok) { load(); $("status").textContent = `已恢复，保存为版本 ${r.data.version}`; }
      };
      li.append(" ", back);
    }
    ol.append(li);
  }
  return data;
}

async function loadReference() {
  const {data} = await api("GET", camUrl("/reference?" + q()));
  $("ref-info").textContent = data.picture
    ? `画面时间 ${new Date(data.taken_at).toLocaleString("zh-CN")}（${data.worker}）` + (data.requested_at ? " · 已请求新画面" : "")
    : data.requested_at ? "已请求画面，等待 worker 上传…" : "暂无参考画面";
  if (!data.picture) return data;
  const img = new Image();
  img.onload = () => { S.img = img; S.w = img.naturalWidth; S.h = img.naturalHeight; resize(); };
  img.src = data.picture + "&t=" + encodeURIComponent(data.taken_at);
  return data;
}
async function waitForReference(before) {
  // Workers send a picture when asked, or when there is none: look every 2 s for up to 2 minutes.
  for (let i = 0; i < 60; i++) {
    await new Promise(r => setTimeout(r, 2000));
    const d = await loadReference();
    if (d.taken_at && d.taken_at !== before) return;
  }
}
$("btn-reference").onclick = async () => {
  const before = (await api("GET", camUrl("/reference?" + q()))).data.taken_at;
  await api("POST", camUrl("/reference/request"));
  $("ref-info").textContent = "已请求画面，等待 worker 上传…";
  waitForReference(before);
};

function resize() {
  const width = canvas.parentElement.clientWidth;
  canvas.width = Math.max(320, Math.min(1600, S.w >= 320 ? S.w : width));
  canvas.height = Math.round(canvas.width * S.h / S.w);
  draw();
}
window.addEventListener("resize", draw);

async function fromClue() {
  // "Draw a zone from this clue" / "exclude this spot", from the review page: a polygon around the clue's box.
  const clue = params.get("clue");
  if (!clue) return;
  const {ok, data} = await api("GET", `/api/clues/${encodeURIComponent(clue)}`);
  if (!ok) return;
  const [x1, y1, x2, y2] = data.box_norm;
  const pad = params.get("as") === "mask" ? 0.1 : 0.5;
  const dx = (x2 - x1) * pad, dy = (y2 - y1) * pad;
  const r = v => Math.round(Math.min(1, Math.max(0, v)) * 1000) / 1000;
  const pts = [[r(x1 - dx), r(y1 - dy)], [r(x2 + dx), r(y1 - dy)], [r(x2 + dx), r(y2 + dy)], [r(x1 - dx), r(y2 + dy)]];
  if (params.get("as") === "mask") S.drawing = {kind: "masks", points: pts, name: "排除：" + data.zone.name};
  else S.drawing = {kind: "zones", points: pts, name: data.zone.name,
    rule: {category: data.category.code, labels: [data.label]}};
  finishDrawing();
}

async function load() {
  const [schema, cam] = await Promise.all([api("GET", "/api/zone-schema"), api("GET", camUrl(""))]);
  S.schema = schema.data;
  S.labels = schema.data.labels;
  S.preset = params.get("preset") ?? cam.data.preset ?? "";
  $("cam-title").textContent = `${cam.data.name || CAM}（${CAM}）`;
  $("preset").value = S.preset;
  const current = (await loadVersions()).zone_set;
  S.zones = current.zones; S.masks = current.masks || []; S.sel = null; S.undo = [];
  $("btn-undo").disabled = true;
  S.sightings = (await api("GET", camUrl("/sightings"))).data.sightings || [];
  const ref = await loadReference();
  resize();
  if (!ref.picture) waitForReference();
  render();
  await fromClue();
  document.body.dataset.ready = "1";
}
load();
setInterval(async () => {  // workers send a sample's detections every 30 s
  const r = await api("GET", camUrl("/sightings"));
  if (r.ok) { S.sightings = r.data.sightings; draw(); }
}, 15000);
