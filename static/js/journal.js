/* Slot journal: GET /api/slots/<id>/jobs, newest first; the first page refreshes every 10 seconds. */
(function () {
  "use strict";
  const el = PC.el;
  const REFRESH_MS = 10000;
  const page = document.getElementById("journal-page");
  const slotId = page.dataset.slotId;
  const statusSel = document.getElementById("status-filter");
  const body = document.getElementById("journal-body");
  const more = document.getElementById("journal-more");
  const STATUS = {
    done: ["pill--ok", "Готово"], failed: ["pill--warn", "Ошибка"], timeout: ["pill--warn", "Таймаут"],
    processing: ["pill", "В обработке"], pending: ["pill", "В очереди"],
  };
  const REASONS = {
    timeout: "Таймаут", network: "Нет связи", provider_5xx: "Провайдер недоступен", quota: "Квота исчерпана",
    provider_unavailable: "Провайдер приостановлен",
    bad_response: "Нет изображения", blocked: "Модерация", not_configured: "Не настроен", internal: "Ошибка сервера",
    interrupted: "Прервано",
  };
  const SOURCES = { ingest: "Фотобудка", ui_test: "Тест" };
  let cursor = null;
  let timer = null;

  function size(bytes) {
    if (typeof bytes !== "number") return "—";
    if (bytes < 1024 * 1024) return Math.max(1, Math.round(bytes / 1024)) + " КБ";
    return (bytes / (1024 * 1024)).toLocaleString("ru-RU", { maximumFractionDigits: 1 }) + " МБ";
  }

  function duration(ms) {
    if (typeof ms !== "number") return "—";
    return ms < 1000 ? ms + " мс" : (ms / 1000).toLocaleString("ru-RU", { maximumFractionDigits: 1 }) + " с";
  }

  /** "gemini: Нет связи ×3 → local: готово": every attempt, repeats folded (attempt_log). */
  function attemptsText(log) {
    const parts = [];
    for (const a of log || []) {
      const label = a.outcome === "ok" ? "готово" : a.outcome === "provider_busy" ? "занят" : REASONS[a.outcome] || a.outcome;
      const last = parts[parts.length - 1];
      if (last && last.step === a.step && last.label === label) last.n += 1;
      else parts.push({ step: a.step, provider: a.provider, label, n: 1 });
    }
    return parts.map((p) => p.provider + ": " + p.label + (p.n > 1 ? " ×" + p.n : "")).join(" → ");
  }

  function providerCell(job) {
    const cell = el("td", { "data-label": "Провайдер" }, [job.provider]);
    if (job.answered_step) cell.append(el("span", { class: "hint", text: " (запасной шаг " + (job.answered_step + 1) + ")" }));
    const tried = attemptsText(job.attempt_log);
    if (tried) cell.append(el("div", { class: "hint", "data-role": "attempts", text: tried }));
    return cell;
  }

  function row(job) {
    const [cls, label] = STATUS[job.status] || ["pill", job.status];
    const files = el("td", { class: "cell-wide", "data-label": "Файлы" });
    if (job.result_url) files.append(el("a", { href: job.result_url, target: "_blank", rel: "noopener", text: "результат" }));
    if (job.input_url) {
      if (job.result_url) files.append(" · ");
      files.append(el("a", { href: job.input_url, target: "_blank", text: "исходное фото" }));
    } else if (job.input_size) {
      // The photo was received but is no longer kept (settings: input photo retention).
      if (job.result_url) files.append(" · ");
      files.append(el("span", { class: "muted", text: "исходное фото удалено" }));
    }
    if (!job.result_url && !job.input_url && !job.input_size) files.append("—");
    return el("tr", { "data-job-id": job.job_id, "data-status": job.status }, [
      el("td", { class: "cell-wide", text: PC.fmtDateTime(job.started_at), title: job.job_id, "data-label": "Время" }),
      el("td", { text: SOURCES[job.source] || job.source, "data-label": "Источник" }),
      el("td", { "data-label": "Статус" }, [el("span", { class: "pill " + cls, text: label })]),
      el("td", {
        class: job.failure_reason ? "bad" : "zero", "data-label": "Причина",
        text: job.failure_reason ? REASONS[job.failure_reason] || job.failure_reason : "—",
        title: job.failure_reason || null,
      }),
      providerCell(job),
      el("td", { class: "num", text: String(job.attempts), "data-label": "Попыток" }),
      el("td", { class: "num", text: duration(job.duration_ms), "data-label": "Длительность" }),
      el("td", { class: "num", text: size(job.input_size), "data-label": "Размер фото" }),
      files,
    ]);
  }

  async function load(append) {
    const err = document.getElementById("journal-error");
    let url = "/api/slots/" + encodeURIComponent(slotId) + "/jobs?limit=25";
    if (statusSel.value) url += "&status=" + encodeURIComponent(statusSel.value);
    if (append && cursor) url += "&cursor=" + encodeURIComponent(cursor);
    try {
      const data = await PC.api(url);
      if (!append) body.textContent = "";
      for (const job of data.jobs || []) body.append(row(job));
      if (!body.children.length) body.append(el("tr", {}, [el("td", { colspan: "9", class: "muted", text: "Задач пока нет." })]));
      cursor = data.next_cursor;
      more.hidden = !cursor;
      err.hidden = true;
      document.getElementById("journal-updated").textContent =
        "обновлено в " + new Date().toLocaleTimeString("ru-RU", { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    } catch (e) {
      err.textContent = "Не удалось загрузить журнал: " + e.message;
      err.hidden = false;
    }
  }

  function schedule() {
    clearInterval(timer);
    // Only the first page refreshes: an admin reading older pages keeps them.
    timer = setInterval(() => {
      if (!document.hidden && !more.dataset.paged) load(false);
    }, REFRESH_MS);
  }

  statusSel.addEventListener("change", () => {
    delete more.dataset.paged;
    load(false);
    schedule();
  });
  more.addEventListener("click", async () => {
    more.dataset.paged = "1";
    PC.busy(more, true);
    await load(true);
    PC.busy(more, false);
  });
  load(false);
  schedule();
})();
