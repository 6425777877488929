/* Integrations: API keys (GET|POST /api/keys, DELETE to revoke) and photo batches (GET|POST /api/batches). */
(function () {
  "use strict";
  const el = PC.el;
  const keyBody = document.getElementById("key-body");
  const allSlots = document.getElementById("key-all-slots");
  const slotBox = document.getElementById("key-slots");

  allSlots.addEventListener("change", () => { slotBox.hidden = allSlots.checked; });

  function keyRow(k) {
    const live = !k.revoked_at;
    const cells = [
      el("td", { text: k.name, "data-label": "Название" }),
      el("td", { "data-label": "Ключ" }, [el("code", { text: k.prefix + "…" })]),
      el("td", { class: "cell-wide", text: k.slot_ids ? k.slot_ids.join(", ") : "Все", "data-label": "Слоты" }),
      el("td", { class: "num", text: String(k.rate_per_minute), "data-label": "Лимит/мин" }),
      el("td", { class: "num", "data-role": "requests", text: String(k.request_count), "data-label": "Запросов" }),
      el("td", { text: k.last_used_at ? PC.fmtDateTime(k.last_used_at) : "—", "data-label": "Последний запрос" }),
      el("td", { "data-label": "Статус" }, [
        el("span", { class: "pill " + (live ? "pill--ok" : "pill--off"), text: live ? "Активен" : "Отозван" }),
      ]),
    ];
    const actions = el("td", {});
    if (live) {
      const btn = el("button", { class: "btn btn--sm btn--danger", type: "button", "data-role": "revoke", text: "Отозвать" });
      btn.addEventListener("click", () => revoke(k, btn));
      actions.append(btn);
    }
    cells.push(actions);
    return el("tr", { "data-key-id": k.id, "data-state": live ? "live" : "revoked" }, cells);
  }

  function renderKeys(data) {
    keyBody.textContent = "";
    for (const k of data.keys || []) keyBody.append(keyRow(k));
    if (!(data.keys || []).length) {
      keyBody.append(el("tr", {}, [el("td", { colspan: "8", class: "muted", text: "Ключей пока нет." })]));
    }
  }

  async function revoke(k, btn) {
    const ok = await PC.confirm({
      title: "Отозвать ключ «" + k.name + "»?",
      text: "Все запросы с этим ключом сразу получат отказ 401. Действие нельзя отменить.",
      ok: "Отозвать",
    });
    if (!ok) return;
    PC.busy(btn, true);
    try {
      await PC.api("/api/keys/" + encodeURIComponent(k.id), { method: "DELETE" });
      PC.toast("Ключ отозван");
      renderKeys(await PC.api("/api/keys"));
    } catch (err) {
      PC.toast("Не удалось отозвать ключ: " + err.message, "error");
      PC.busy(btn, false);
    }
  }

  function showError(form, field, message) {
    const box = document.querySelector("#" + form + ' [data-field="' + field + '"] .field__error');
    if (box) box.textContent = message || "";
  }
  const showFieldError = (field, message) => showError("key-form", field, message);
  const showBatchError = (field, message) => showError("batch-form", field, message);

  document.getElementById("key-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    for (const f of ["name", "rate_per_minute", "slot_ids"]) showFieldError(f, "");
    const name = document.getElementById("key-name").value.trim();
    if (!name) { showFieldError("name", "Укажите название ключа"); return; }
    const chosen = Array.from(slotBox.querySelectorAll("input[name=slot]:checked")).map((c) => c.value);
    if (!allSlots.checked && !chosen.length) { showFieldError("slot_ids", "Отметьте хотя бы один слот"); return; }
    const btn = document.getElementById("key-create");
    PC.busy(btn, true);
    try {
      const made = await PC.api("/api/keys", {
        method: "POST",
        json: {
          name: name,
          rate_per_minute: Number(document.getElementById("key-rate").value),
          slot_ids: allSlots.checked ? null : chosen,
        },
      });
      document.getElementById("key-secret-key").value = made.api_key;
      document.getElementById("key-secret-webhook").value = made.webhook_secret;
      document.getElementById("key-secret").hidden = false;
      document.getElementById("key-name").value = "";
      PC.toast("Ключ создан: скопируйте его сейчас");
      renderKeys(await PC.api("/api/keys"));
    } catch (err) {
      const fields = err.fields || {};
      if (Object.keys(fields).length) for (const [f, m] of Object.entries(fields)) showFieldError(f, m);
      PC.toast("Не удалось создать ключ: " + err.message, "error");
    } finally {
      PC.busy(btn, false);
    }
  });

  function batchRow(b) {
    const c = b.counts;
    const doneCount = c.done + c.failed;
    const bar = el("progress", { max: String(b.total), value: String(doneCount), "aria-label": "Обработано" });
    const status = b.finished
      ? el("span", { class: "pill pill--ok", text: "Завершён" })
      : el("span", { class: "pill", text: "В работе" });
    return el("tr", { "data-batch-id": b.batch_id, "data-finished": b.finished ? "yes" : "no" }, [
      el("td", { text: PC.fmtDateTime(b.created_at), "data-label": "Создан" }),
      el("td", { text: b.key_name || "—", "data-label": "Ключ" }),
      el("td", { text: b.slot_id, "data-label": "Слот" }),
      el("td", { class: "cell-wide", "data-label": "Ход обработки" }, [bar, " " + doneCount + " из " + b.total]),
      el("td", { class: "num", "data-role": "done", text: String(c.done), "data-label": "Готово" }),
      el("td", { class: "num" + (c.failed ? " bad" : ""), text: String(c.failed), "data-label": "Ошибок" }),
      el("td", { "data-label": "Статус" }, [status]),
      el("td", {}, [el("a", { class: "btn btn--sm", href: b.results_url, download: "", "data-role": "download", text: "Скачать ZIP" })]),
    ]);
  }

  function renderBatches(data) {
    const body = document.getElementById("batch-body");
    body.textContent = "";
    for (const b of data.batches || []) body.append(batchRow(b));
    if (!(data.batches || []).length) {
      body.append(el("tr", {}, [el("td", { colspan: "8", class: "muted", text: "Пакетов пока не было." })]));
    }
  }

  document.getElementById("batch-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    for (const f of ["slot_id", "archive", "photos"]) showBatchError(f, "");
    const archive = document.getElementById("batch-archive");
    const photosInput = document.getElementById("batch-photos");
    if (!archive.files.length && !photosInput.files.length) {
      showBatchError("photos", "Выберите ZIP-архив или фото");
      return;
    }
    const form = new FormData();
    form.append("slot_id", document.getElementById("batch-slot").value);
    if (archive.files.length) form.append("archive", archive.files[0]);
    for (const file of photosInput.files) form.append("photos", file);
    const btn = document.getElementById("batch-send");
    PC.busy(btn, true);
    try {
      const made = await PC.api("/api/batches", { method: "POST", form: form });
      archive.value = "";
      photosInput.value = "";
      PC.toast("Пакет принят: фото в нём — " + made.total);
      renderBatches(await PC.api("/api/batches"));
    } catch (err) {
      const fields = err.fields || {};
      for (const [f, m] of Object.entries(fields)) showBatchError(f, m);
      PC.toast("Не удалось отправить пакет: " + err.message, "error");
    } finally {
      PC.busy(btn, false);
    }
  });

  async function refreshBatches() {
    if (document.hidden) return;
    try {
      renderBatches(await PC.api("/api/batches"));
    } catch (e) {
      /* the next refresh tries again; the banner shows only a failed first load */
    }
  }

  async function load() {
    const err = document.getElementById("integrations-error");
    try {
      const [keys, batches] = await Promise.all([PC.api("/api/keys"), PC.api("/api/batches")]);
      renderKeys(keys);
      renderBatches(batches);
      err.hidden = true;
      document.getElementById("integrations-updated").textContent =
        "обновлено в " + new Date().toLocaleTimeString("ru-RU", { hour: "2-digit", minute: "2-digit" });
    } catch (e) {
      err.textContent = "Не удалось загрузить данные: " + e.message;
      err.hidden = false;
    }
  }

  load();
  setInterval(refreshBatches, 10000);
})();
