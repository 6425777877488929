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

  const FAILURES = {
    timeout: "таймаут", network: "нет связи", provider_5xx: "провайдер недоступен", quota: "квота исчерпана",
    provider_unavailable: "провайдер приостановлен",
    bad_response: "нет изображения", blocked: "модерация", not_configured: "провайдер не настроен",
    internal: "ошибка сервера", interrupted: "прервано",
  };

  /** "Последняя обработка" and queue state from the slot's last job. */
  function lastJobParts(slot, stat) {
    const job = slot.last_job;
    const parts = [];
    if (!job) {
      parts.push("Последняя обработка: " + (stat && stat.last_success_at ? PC.fmtAgo(stat.last_success_at) : "ещё не было"));
      parts.push("Очередь свободна");
      return parts;
    }
    let text = "Последняя обработка: " + PC.fmtAgo(job.started_at);
    if (job.status === "failed" || job.status === "timeout") text += " (ошибка: " + (FAILURES[job.failure_reason] || job.failure_reason || job.status) + ")";
    if (job.source === "ui_test") text += " — тест";
    parts.push(text);
    parts.push(job.status === "pending" || job.status === "processing" ? "Идёт обработка" : "Очередь свободна");
    return parts;
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
    const parts = ["Провайдер: " + (titles[slot.provider] || slot.provider || "—")];
    parts.push(...lastJobParts(slot, stat));
    for (const p of parts) meta.append(PC.el("span", { text: p }));
    const [cls, label] = statusOf(slot, stat);
    const pill = row.querySelector('[data-role="status"]');
    pill.className = "pill " + cls;
    pill.textContent = label;
    if (slot.ingest_url) row.querySelector("input").value = slot.ingest_url;
  }

  /* An open provider circuit: its slots answer 503 at once (or fall back) until it closes. */
  function showCircuits(circuits) {
    const box = document.getElementById("dash-circuits");
    const open = Object.entries(circuits).filter(([, c]) => c.state === "open");
    box.replaceChildren();
    for (const [name, c] of open) {
      const title = titles[name] || name;
      const wait = Math.max(1, Math.round(c.retry_in_s || 0));
      box.append(PC.el("div", {
        text: "Провайдер «" + title + "» недоступен: после " + c.failures +
          " сбоев подряд запросы к нему приостановлены, проверка через " + wait + " с.",
      }));
    }
    box.hidden = open.length === 0;
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
      showCircuits((overview && overview.circuits) || {});
    } catch (err) {
      stats = {};
    }
    document.getElementById("dash-empty").hidden = slots.length > 0;
    list.hidden = slots.length === 0;
    for (const slot of slots) render(slot, stats[slot.slot_id || slot.id]);
    PC.showLinkEnds(list);
    updated.textContent = "Обновлено в " + new Date().toLocaleTimeString("ru-RU", { hour: "2-digit", minute: "2-digit" });
  }

  /* «Сбросить статистику» of one slot: its counters start again, its journal stays. */
  list.addEventListener("click", async (ev) => {
    const btn = ev.target.closest('[data-role="reset-stats"]');
    if (!btn) return;
    const id = btn.closest("[data-slot-id]").dataset.slotId;
    const ok = await PC.confirm({
      title: "Сбросить статистику слота?",
      text: "Счётчики слота " + id + " начнутся с нуля. Журнал задач сохранится.",
      ok: "Сбросить",
    });
    if (!ok) return;
    PC.busy(btn, true);
    try {
      await PC.api("/api/stats/reset?slot_id=" + encodeURIComponent(id), { method: "POST" });
      PC.toast("Статистика слота " + id + " сброшена");
      await load();
    } catch (err) {
      PC.toast("Не удалось сбросить статистику: " + err.message, "error");
    } finally {
      PC.busy(btn, false);
    }
  });

  document.getElementById("dash-retry").addEventListener("click", load);
  load();
  setInterval(() => {
    if (!document.hidden) load();
  }, 30000);
})();
