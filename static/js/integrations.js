/* Integrations: API keys (GET|POST /api/keys, DELETE to revoke). */
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

  function showFieldError(field, message) {
    const box = document.querySelector('#key-form [data-field="' + field + '"] .field__error');
    if (box) box.textContent = message || "";
  }

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

  async function load() {
    const err = document.getElementById("integrations-error");
    try {
      renderKeys(await PC.api("/api/keys"));
      err.hidden = true;
      document.getElementById("integrations-updated").textContent =
        "обновлено в " + new Date().toLocaleTimeString("ru-RU", { hour: "2-digit", minute: "2-digit" });
    } catch (e) {
      err.textContent = "Не удалось загрузить данные: " + e.message;
      err.hidden = false;
    }
  }

  load();
})();
