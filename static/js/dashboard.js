/* Dashboard: fills the 15 slot rows from GET /api/slots and GET /api/stats/overview. */
(function () {
  "use strict";
  const list = document.getElementById("slot-list");
  const titles = JSON.parse(list.dataset.providerTitles || "{}");
  const errorBox = document.getElementById("dash-error");
  const updated = document.getElementById("dash-updated");

  function slotsOf(payload) {
    if (Array.isArray(payload)) return payload;
    return (payload && (payload.slots || payload.items)) || [];
  }

  function statusOf(slot, stat) {
    if (!slot.is_active) return ["pill--off", "Отключён"];
    if (stat && (stat.timeouts_last_window || stat.provider_errors_last_window)) return ["pill--warn", "Есть ошибки"];
    return ["pill--ok", "Активен"];
  }

  function queueText(slot, stat) {
    const running = slot.running_jobs ?? slot.queue_length ?? (stat && stat.running_jobs);
    if (typeof running === "number") {
      return running > 0 ? "В обработке: " + running : "Очередь свободна";
    }
    return null;
  }

  function render(slot, stat) {
    const id = slot.slot_id || slot.id;
    const row = list.querySelector('[data-slot-id="' + id + '"]');
    if (!row) return;
    row.classList.remove("is-loading");
    row.classList.toggle("is-inactive", !slot.is_active);
    const name = row.querySelector(".slot-row__name");
    name.textContent = slot.display_name || id;
    name.title = slot.display_name || id;
    const meta = row.querySelector(".slot-row__meta");
    meta.textContent = "";
    const provider = titles[slot.provider] || slot.provider || "—";
    const last = slot.last_processed_at || slot.last_job_at || (stat && stat.last_success_at);
    const parts = [provider + (slot.operation_title ? " — " + slot.operation_title : "")];
    parts.push("Последняя обработка: " + PC.fmtAgo(last));
    if (stat && typeof stat.jobs_last_window === "number") parts.push("За час: " + stat.jobs_last_window);
    const q = queueText(slot, stat);
    if (q) parts.push(q);
    for (const p of parts) meta.append(PC.el("span", { text: p }));
    const [cls, label] = statusOf(slot, stat);
    const pill = row.querySelector('[data-role="status"]');
    pill.className = "pill " + cls;
    pill.textContent = label;
    if (slot.ingest_url) row.querySelector("input").value = slot.ingest_url;
  }

  async function load() {
    errorBox.hidden = true;
    let slots;
    try {
      slots = slotsOf(await PC.api("/api/slots"));
    } catch (err) {
      document.getElementById("dash-error-text").textContent = "Не удалось загрузить слоты: " + err.message;
      errorBox.hidden = false;
      return;
    }
    let stats = {};
    try {
      const overview = await PC.api("/api/stats/overview?window_minutes=60");
      for (const s of (overview && overview.slots) || []) stats[s.slot_id] = s;
    } catch (err) {
      stats = {};
    }
    document.getElementById("dash-empty").hidden = slots.length > 0;
    for (const slot of slots) render(slot, stats[slot.slot_id || slot.id]);
    updated.textContent = "Обновлено в " + new Date().toLocaleTimeString("ru-RU", { hour: "2-digit", minute: "2-digit" });
  }

  document.getElementById("dash-retry").addEventListener("click", load);
  load();
  setInterval(() => {
    if (!document.hidden) load();
  }, 30000);
})();
