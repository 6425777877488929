/* Statistics page: GET /api/stats/overview and /providers, refreshed every 15 seconds; the counters' reset. */
(function () {
  "use strict";
  const el = PC.el;
  const REFRESH_MS = 15000;
  const windowSel = document.getElementById("window");
  const slotSel = document.getElementById("slot-filter");
  const REASONS = {
    timeout: "Таймаут", network: "Нет связи", provider_5xx: "Провайдер недоступен", quota: "Квота исчерпана",
    provider_unavailable: "Провайдер приостановлен",
    bad_response: "Нет изображения", blocked: "Модерация", not_configured: "Не настроен", internal: "Ошибка сервера",
    interrupted: "Прервано", slot_busy: "Слот занят", provider_busy: "Провайдер занят",
  };
  let timer = null;

  function num(v) {
    return typeof v === "number" ? v.toLocaleString("ru-RU") : "—";
  }

  function windowLabel(min) {
    if (min % 1440 === 0) return min / 1440 === 1 ? "24 часа" : min / 60 + " ч";
    if (min % 60 === 0) return min / 60 === 1 ? "час" : min / 60 + " " + PC.plural(min / 60, "час", "часа", "часов");
    return min + " мин";
  }

  function countCell(v, bad, label) {
    return el("td", { class: "num" + (v ? (bad ? " bad" : "") : " zero"), text: num(v), "data-label": label });
  }

  function render(data) {
    const sys = data.system || {};
    const win = data.window_minutes || Number(windowSel.value);
    document.getElementById("global-count").textContent = num(sys.jobs_last_window);
    document.getElementById("global-label").textContent =
      PC.plural(sys.jobs_last_window || 0, "обработка", "обработки", "обработок") + " за " + windowLabel(win);
    document.getElementById("m-total").textContent = num(sys.jobs_total);
    document.getElementById("m-timeouts").textContent = num(sys.timeouts_last_window);
    document.getElementById("m-errors").textContent = num(sys.provider_errors_last_window);
    document.getElementById("m-storage").textContent =
      typeof sys.storage_usage_mb === "number" ? sys.storage_usage_mb.toLocaleString("ru-RU", { maximumFractionDigits: 1 }) + " МБ" : "—";
    document.getElementById("m-hash").textContent =
      typeof sys.hash_match_share === "number" ? Math.round(sys.hash_match_share * 1000) / 10 + " %" : "—";
    document.getElementById("counting-since").textContent = data.counting_since
      ? "Счёт ведётся с " + PC.fmtDateTime(data.counting_since) + (data.reset_by ? " (сбросил " + data.reset_by + ")" : "")
      : "Счёт ведётся с начала работы";
    const body = document.getElementById("stats-body");
    body.textContent = "";
    for (const s of data.slots || []) {
      const errors = (s.timeouts_last_window || 0) + (s.provider_errors_last_window || 0);
      let pill;
      if (!s.is_active) pill = el("span", { class: "pill pill--off", text: "Остановлен" });
      else if (errors) pill = el("span", { class: "pill pill--warn", text: "Есть ошибки" });
      else pill = el("span", { class: "pill pill--ok", text: "Активен" });
      const reason = s.last_error_reason;
      body.append(el("tr", { "data-slot-id": s.slot_id }, [
        el("td", { class: "cell-name" }, [el("a", { href: "/admin/slots/" + encodeURIComponent(s.slot_id), text: s.display_name || s.slot_id })]),
        el("td", { class: "cell-state" }, [pill]),
        countCell(s.jobs_last_window, false, "Задач"),
        countCell(s.timeouts_last_window, true, "Таймауты"),
        countCell(s.provider_errors_last_window, true, "Ошибки провайдера"),
        el("td", {
          class: s.last_success_at ? "" : "zero", "data-label": "Последний успех",
          text: s.last_success_at ? PC.fmtAgo(s.last_success_at) : "—",
          title: s.last_success_at ? PC.fmtDateTime(s.last_success_at) : null,
        }),
        el("td", { class: reason ? "bad" : "zero", "data-label": "Последняя ошибка", text: reason ? REASONS[reason] || reason : "—" }),
      ]));
    }
    if (!(data.slots || []).length) body.append(el("tr", {}, [el("td", { colspan: "7", class: "muted", text: "Слотов нет." })]));
  }

  function duration(ms) {
    if (typeof ms !== "number") return "—";
    if (ms < 1000) return ms + " мс";
    return (ms / 1000).toLocaleString("ru-RU", { maximumFractionDigits: 1 }) + " с";
  }

  function renderProviders(data) {
    const body = document.getElementById("providers-body");
    body.textContent = "";
    for (const p of data.providers || []) {
      const rate = Math.round(p.success_rate * 1000) / 10;
      body.append(el("tr", { "data-provider": p.provider }, [
        el("td", { class: "cell-name", text: p.provider }),
        el("td", { class: "num", text: num(p.jobs), "data-label": "Задач" }),
        el("td", { class: "num" + (rate < 90 ? " bad" : ""), text: rate.toLocaleString("ru-RU") + " %", "data-label": "Успешно" }),
        el("td", { class: "num", text: duration(p.latency_p50_ms), "data-label": "Время p50" }),
        el("td", { class: "num", text: duration(p.latency_p95_ms), "data-label": "Время p95" }),
      ]));
    }
    if (!(data.providers || []).length) body.append(el("tr", {}, [el("td", { colspan: "5", class: "muted", text: "За окно обработок не было." })]));
  }

  function renderKeys(data) {
    const body = document.getElementById("keys-body");
    body.textContent = "";
    for (const k of data.keys || []) {
      body.append(el("tr", { "data-key-id": k.key_id }, [
        el("td", { class: "cell-name", text: k.name + (k.revoked ? " (отозван)" : "") }),
        el("td", { class: "num", "data-role": "requests", text: num(k.request_count), "data-label": "Запросов" }),
        el("td", { text: k.last_used_at ? PC.fmtDateTime(k.last_used_at) : "—", "data-label": "Последний запрос" }),
        el("td", { class: "num", text: num(k.tasks.open), "data-label": "В работе" }),
        el("td", { class: "num", text: num(k.tasks.done), "data-label": "Готово" }),
        el("td", { class: "num" + (k.tasks.failed ? " bad" : ""), text: num(k.tasks.failed), "data-label": "Ошибок" }),
      ]));
    }
    if (!(data.keys || []).length) body.append(el("tr", {}, [el("td", { colspan: "6", class: "muted", text: "Ключей API нет." })]));
  }

  function query() {
    return "?window_minutes=" + encodeURIComponent(windowSel.value) + (slotSel.value ? "&slot_id=" + encodeURIComponent(slotSel.value) : "");
  }

  async function load() {
    const err = document.getElementById("stats-error");
    try {
      const [data, providers, keys] = await Promise.all([
        PC.api("/api/stats/overview" + query()), PC.api("/api/stats/providers" + query()), PC.api("/api/stats/api-keys"),
      ]);
      render(data);
      renderProviders(providers);
      renderKeys(keys);
      err.hidden = true;
      document.getElementById("updated").textContent =
        "обновлено в " + new Date().toLocaleTimeString("ru-RU", { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    } catch (e) {
      err.textContent = "Не удалось обновить статистику: " + e.message + ". Повторим через 15 секунд.";
      err.hidden = false;
    }
  }

  function schedule() {
    clearInterval(timer);
    timer = setInterval(() => {
      if (!document.hidden) load();
    }, REFRESH_MS);
  }

  for (const sel of [windowSel, slotSel]) {
    sel.addEventListener("change", () => {
      load();
      schedule();
    });
  }
  document.getElementById("stats-reset").addEventListener("click", async (ev) => {
    const btn = ev.currentTarget;
    const ok = await PC.confirm({
      title: "Сбросить статистику?",
      text: "Счётчики всех слотов начнутся с нуля. История задач сохранится: её можно будет посмотреть в журналах слотов.",
      ok: "Сбросить",
    });
    if (!ok) return;
    PC.busy(btn, true);
    try {
      await PC.api("/api/stats/reset", { method: "POST" });
      PC.toast("Статистика сброшена");
      await load();
    } catch (e) {
      PC.toast("Не удалось сбросить статистику: " + e.message, "error");
    } finally {
      PC.busy(btn, false);
    }
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) load();
  });
  load();
  schedule();
})();
