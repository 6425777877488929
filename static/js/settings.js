/* Settings page: GET|PUT /api/settings (password, deadline, limits, provider keys) and media clean-up. */
(function () {
  "use strict";
  const page = document.getElementById("settings-page");
  const range = document.getElementById("sync_response_seconds");
  const rangeOut = document.getElementById("sync-value");
  const MIN = Number(page.dataset.syncMin);
  const MAX = Number(page.dataset.syncMax);
  let current = null;
  const limitsForm = document.getElementById("limits-form");
  const limitInputs = limitsForm.querySelectorAll("input[type=number]");
  const hashMode = document.getElementById("ingest_hash_mode");

  function cleanMessage(msg) {
    const m = String(msg || "").replace(/^Поле «[^»]*»:\s*/, "");
    return m.charAt(0).toUpperCase() + m.slice(1);
  }

  function fieldError(field, message) {
    const wrap = document.querySelector('[data-field="' + CSS.escape(field) + '"]');
    if (!wrap) return false;
    wrap.classList.toggle("has-error", !!message);
    wrap.querySelector(".field__error").textContent = message ? cleanMessage(message) : "";
    return true;
  }

  function render(s) {
    current = s;
    const pw = document.getElementById("password-state");
    pw.className = "pill " + (s.ingest_password_set ? "pill--ok" : "pill--warn");
    pw.textContent = s.ingest_password_set ? "Задан" : "Не задан";
    pw.title = s.ingest_password_rotated_at
      ? "Изменён " + PC.fmtDateTime(s.ingest_password_rotated_at) + (s.ingest_password_rotated_by ? " · " + s.ingest_password_rotated_by : "")
      : "";
    for (const input of limitInputs) input.value = s[input.name];
    hashMode.value = s.ingest_hash_mode;
    range.value = s.sync_response_seconds;
    rangeOut.textContent = s.sync_response_seconds + " с";
    for (const row of document.querySelectorAll("[data-provider]")) {
      const st = (s.provider_keys || {})[row.dataset.provider] || {};
      const label = row.querySelector('[data-role="state"]');
      if (st.unreadable) {
        label.textContent = "Сохранённый ключ не читается (сменился SECRET_KEY) — введите его заново";
        label.style.color = "var(--danger)";
      } else if (st.configured) {
        const src = st.source === "environment" ? "из окружения сервера" : "обновлён " + PC.fmtDateTime(st.updated_at);
        label.textContent = "Настроен · " + src;
        label.style.color = "var(--accent-strong)";
      } else {
        label.textContent = "Не задан";
        label.style.color = "var(--warn)";
      }
      row.querySelector('[data-role="clear"]').hidden = st.source !== "settings";
    }
  }

  async function load() {
    document.getElementById("load-error").hidden = true;
    try {
      render(await PC.api("/api/settings"));
    } catch (err) {
      document.getElementById("load-error-text").textContent = "Не удалось загрузить настройки: " + err.message;
      document.getElementById("load-error").hidden = false;
    }
  }

  async function put(body, btn, okText) {
    PC.busy(btn, true);
    try {
      render(await PC.api("/api/settings", { method: "PUT", json: body }));
      PC.toast(okText);
      return true;
    } catch (err) {
      const fields = err.fields;
      let shown = false;
      for (const [f, m] of Object.entries(fields)) shown = fieldError(f, m) || shown;
      PC.toast(shown ? "Проверьте выделенное поле" : err.message, "error");
      return false;
    } finally {
      PC.busy(btn, false);
    }
  }

  /* ingest password */
  const pwForm = document.getElementById("password-form");
  const pwInput = document.getElementById("ingest_password");
  pwInput.addEventListener("input", () => fieldError("ingest_password", ""));
  document.getElementById("generate-password").addEventListener("click", () => {
    const alphabet = "abcdefghijkmnpqrstuvwxyz23456789";
    const bytes = new Uint32Array(10);
    crypto.getRandomValues(bytes);
    pwInput.value = Array.from(bytes, (b) => alphabet[b % alphabet.length]).join("");
    fieldError("ingest_password", "");
  });
  pwForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const value = pwInput.value.trim();
    if (value.length < 8) return fieldError("ingest_password", "Пароль должен быть не короче 8 символов");
    if (new TextEncoder().encode(value).length > 72) return fieldError("ingest_password", "Слишком длинный пароль (не больше 72 байт)");
    const ok = await PC.confirm({
      title: "Сменить пароль фотобудок?",
      text: "Фотобудки со старым паролем перестанут отправлять фото, пока вы не впишете в них новый: «" + value + "».",
      ok: "Сменить пароль",
    });
    if (!ok) return;
    if (await put({ ingest_password: value }, document.getElementById("password-save"), "Пароль для фотобудок изменён")) {
      pwInput.value = "";
    }
  });

  /* deadline */
  range.addEventListener("input", () => {
    rangeOut.textContent = range.value + " с";
    fieldError("sync_response_seconds", "");
  });
  document.getElementById("deadline-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const v = Number(range.value);
    if (!Number.isInteger(v) || v < MIN || v > MAX) return fieldError("sync_response_seconds", "Допустимо от " + MIN + " до " + MAX + " секунд");
    put({ sync_response_seconds: v }, document.getElementById("deadline-save"), "Таймаут сохранён: " + v + " с");
  });

  /* retention, upload limit, concurrency, hash mode */
  for (const input of limitInputs) input.addEventListener("input", () => fieldError(input.name, ""));
  limitsForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { ingest_hash_mode: hashMode.value };
    let bad = false;
    for (const input of limitInputs) {
      const v = Number(input.value);
      const min = Number(input.dataset.min), max = Number(input.dataset.max);
      if (input.value.trim() === "" || !Number.isInteger(v) || v < min || v > max) {
        fieldError(input.name, "Допустимо целое число от " + min + " до " + max);
        bad = true;
      } else body[input.name] = v;
    }
    if (bad) return;
    if (current && body.result_ttl_hours < current.result_ttl_hours) {
      const ok = await PC.confirm({
        title: "Сократить срок хранения?",
        text: "Новые результаты будут удаляться через " + body.result_ttl_hours + " ч.: гости, открывшие ссылку позже, увидят «срок хранения истёк». Уже сохранённые фото хранятся до прежнего срока.",
        ok: "Сократить",
      });
      if (!ok) return;
    }
    if (current && body.ingest_hash_mode === "strict" && current.ingest_hash_mode !== "strict") {
      const ok = await PC.confirm({
        title: "Включить строгую проверку hash?",
        text: "Фото с неверной контрольной суммой будут отклоняться, и фотобудка напечатает оригинал.",
        ok: "Включить",
      });
      if (!ok) return;
    }
    put(body, document.getElementById("limits-save"), "Ограничения сохранены");
  });

  /* provider keys */
  for (const row of document.querySelectorAll("[data-provider]")) {
    const name = row.dataset.provider;
    const input = row.querySelector("input");
    input.addEventListener("input", () => fieldError("provider_keys." + name, ""));
    row.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const key = input.value.trim();
      if (!key) return fieldError("provider_keys." + name, "Введите ключ");
      if (await put({ provider_keys: { [name]: key } }, row.querySelector('[type="submit"]'), "Ключ сохранён")) input.value = "";
    });
    row.querySelector('[data-role="clear"]').addEventListener("click", async (ev) => {
      const ok = await PC.confirm({
        title: "Удалить ключ?",
        text: "Слоты с этим провайдером перестанут обрабатывать фото, пока не будет задан новый ключ (или ключ из окружения сервера).",
        ok: "Удалить ключ",
      });
      if (ok) put({ provider_keys: { [name]: null } }, ev.currentTarget, "Ключ удалён");
    });
  }

  /* media cache: every slot's expired files, by the cron's rules, in one request */
  document.getElementById("media-cleanup").addEventListener("click", async (ev) => {
    const btn = ev.currentTarget;
    const ok = await PC.confirm({
      title: "Очистить кеш медиа?",
      text: "Удаляются только устаревшие результаты; последний обработанный файл останется доступным",
      ok: "Очистить",
    });
    if (!ok) return;
    PC.busy(btn, true);
    try {
      const r = await PC.api("/api/media/cleanup", { method: "POST" });
      const mb = (r.bytes_freed / (1024 * 1024)).toLocaleString("ru-RU", { maximumFractionDigits: 1 });
      let text = "Очистка завершена: удалено файлов — " + r.files_removed + ", освобождено " + mb + " МБ";
      if (r.more_left) text += ". Осталось ещё: остальное удалит плановая очистка";
      PC.toast(text);
    } catch (err) {
      PC.toast("Не удалось очистить кеш: " + err.message, "error");
    } finally {
      PC.busy(btn, false);
    }
  });

  document.getElementById("load-retry").addEventListener("click", load);
  load();
})();
