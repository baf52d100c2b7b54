// 自适应门槛 on the camera's page: the zones that run tighter than their rules now, and the log of changes
// with the numbers that caused them; an admin undoes a group's newest change here.
"use strict";
(() => {
  const camera = JSON.parse(document.getElementById("editor-data").textContent).camera;
  const csrf = document.querySelector("meta[name=csrf-token]").content;
  const url = `/api/cameras/${encodeURIComponent(camera)}/gating`;
  const li = (text) => Object.assign(document.createElement("li"), {textContent: text});
  const when = (iso) => new Date(iso).toLocaleString("zh-CN", {hour12: false});

  async function load() {
    const now = document.getElementById("gating-now");
    const log = document.getElementById("gating-log");
    const resp = await fetch(url);
    const data = await resp.json().catch(() => ({}));
    now.replaceChildren();
    log.replaceChildren();
    if (!resp.ok) { now.append(li("门槛信息读取失败")); return; }
    if (!data.enabled) { now.append(li("自适应门槛已关闭：各区域按规则原值运行")); return; }
    if (!data.adjustments.length) now.append(li("各区域均按场景默认值运行"));
    for (const a of data.adjustments) now.append(li(`区域 ${a.zone} · 类别 ${a.category}：第${a.level}级（分数 +${a.score_delta.toFixed(2)}，停留 ×${a.dwell_factor}），自 ${when(a.since)}`));
    const newest = new Set();  // per group, only its newest change can be undone
    for (const c of data.log) {
      const group = `${c.zone}/${c.category}`;
      const item = li(`${when(c.at)} 区域 ${c.zone} · 类别 ${c.category}：${c.text}${c.undone_at ? "（已撤销）" : ""}`);
      item.dataset.change = c.id;
      if (!newest.has(group) && c.undoes === null && !c.undone_at) {
        const b = Object.assign(document.createElement("button"), {type: "button", textContent: "撤销", className: "gating-undo"});
        b.addEventListener("click", () => undo(c.id));
        item.append(" ", b);
      }
      newest.add(group);
      log.append(item);
    }
    if (!data.log.length) log.append(li("暂无调整"));
  }

  async function undo(id) {
    const resp = await fetch(`/api/gating/${id}/undo`, {method: "POST", headers: {"X-CSRF-Token": csrf}});
    const data = await resp.json().catch(() => ({}));
    document.getElementById("gating-status").textContent = resp.ok ? `已撤销调整 #${id}` : (data.detail || "撤销失败");
    load();
  }

  load();
})();
