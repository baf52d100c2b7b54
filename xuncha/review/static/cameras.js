// 点位列表：筛选、登记、编辑、停用。密码只存在服务端，页面上的视频源一律是打码后的。
"use strict";
const csrf = document.querySelector("meta[name=csrf-token]").content;
const form = document.getElementById("camera");
const filters = document.getElementById("filters");
let editing = null;

async function api(method, url, body) {
  const resp = await fetch(url, {method, headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
    body: body === undefined ? undefined : JSON.stringify(body)});
  const data = await resp.json().catch(() => ({}));
  return {ok: resp.ok, data};
}

function cell(text) { const td = document.createElement("td"); td.textContent = text ?? ""; return td; }

function fillSelect(select, options) {
  const keep = select.value;
  for (const o of [...select.options].slice(select.name === "worker" ? 2 : 1)) o.remove();
  for (const [value, label] of options) select.add(new Option(label, value));
  select.value = keep;
}

async function load() {
  const q = new URLSearchParams([...new FormData(filters)].filter(([, v]) => v));
  const {data} = await api("GET", "/api/cameras?" + q);
  fillSelect(filters.region, data.regions);
  fillSelect(filters.worker, data.workers.map(w => [w, w]));
  const body = document.querySelector("#cameras tbody");
  body.replaceChildren();
  for (const c of data.items) {
    const tr = document.createElement("tr");
    const link = document.createElement("a");
    link.href = "/cameras/" + encodeURIComponent(c.id);
    link.textContent = c.id;
    link.title = "画区域";
    const first = document.createElement("td");
    first.append(link);
    tr.append(first, cell(c.name), cell(c.source), cell(c.region_name || c.region_code), cell(c.preset),
      cell(c.sample_interval_s + " 秒"), cell(c.worker || "任意"), cell(c.enabled ? "启用" : "停用"));
    const actions = document.createElement("td");
    const edit = document.createElement("button");
    edit.type = "button"; edit.textContent = "编辑"; edit.onclick = () => startEdit(c);
    const toggle = document.createElement("button");
    toggle.type = "button"; toggle.textContent = c.enabled ? "停用" : "启用";
    toggle.onclick = async () => { await api("PUT", "/api/cameras/" + encodeURIComponent(c.id), {...strip(c), enabled: !c.enabled}); load(); };
    actions.append(edit, " ", toggle);
    tr.append(actions);
    body.append(tr);
  }
  document.getElementById("count").textContent = `共 ${data.items.length} 个点位`;
  for (const fmt of ["csv", "yaml"]) document.getElementById("export-" + fmt).href = `/api/cameras/export.${fmt}?` + q;
}

function strip(c) {
  const out = {...c};
  delete out.updated_at; delete out.updated_by;
  return out;
}

function startEdit(c) {
  editing = c.id;
  for (const el of form.elements) {
    if (!el.name) continue;
    if (el.type === "checkbox") el.checked = !!c[el.name];
    else el.value = c[el.name] ?? "";
  }
  form.id.readOnly = true;
  document.getElementById("form-title").textContent = "编辑点位 " + c.id;
  document.getElementById("save-camera").textContent = "保存";
  document.getElementById("new-camera").hidden = false;
}

document.getElementById("new-camera").onclick = () => {
  editing = null; form.reset(); form.id.readOnly = false;
  document.getElementById("form-title").textContent = "登记点位";
  document.getElementById("save-camera").textContent = "保存并画区域";
  document.getElementById("new-camera").hidden = true;
};

form.addEventListener("submit", async e => {
  e.preventDefault();
  const body = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    if (el.type === "checkbox") body[el.name] = el.checked;
    else if (el.type === "number") { if (el.value !== "") body[el.name] = Number(el.value); }
    else body[el.name] = el.value.trim();
  }
  const {ok, data} = editing ? await api("PUT", "/api/cameras/" + encodeURIComponent(editing), body)
                             : await api("POST", "/api/cameras", body);
  const errors = document.getElementById("camera-errors");
  errors.replaceChildren();
  if (!ok) {
    for (const p of data.problems || [typeof data.detail === "string" ? data.detail : "保存失败"]) {
      const li = document.createElement("li"); li.textContent = p; errors.append(li);
    }
    return;
  }
  if (!editing) location.href = "/cameras/" + encodeURIComponent(data.id);
  else load();
});
filters.addEventListener("change", load);
document.getElementById("import").addEventListener("submit", async e => {
  e.preventDefault();
  const resp = await fetch("/api/cameras/import", {method: "POST", body: new FormData(e.target), headers: {"X-CSRF-Token": csrf}});
  const data = await resp.json().catch(() => ({}));
  const errors = document.getElementById("import-errors");
  errors.replaceChildren();
  if (resp.ok) {
    document.getElementById("import-result").textContent = `新建 ${data.created} 个，更新 ${data.updated} 个，区域 ${data.zone_sets} 套`;
    load();
  } else {
    document.getElementById("import-result").textContent = "未导入";
    for (const p of data.problems || [typeof data.detail === "string" ? data.detail : "导入失败"]) {
      const li = document.createElement("li"); li.textContent = p; errors.append(li);
    }
  }
});
load();
