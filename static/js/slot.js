/* Slot page: form built from the provider's JSON schema, templates, test run.
 * Data: GET|PUT /api/slots/{id}, POST /api/template-media/register,
 * DELETE /api/template-media/{id}, POST /api/slots/{id}/test-run,
 * POST /api/slots/{id}/gallery-token, POST /api/slots/{id}/cleanup,
 * POST /api/slots/{id}/qr-preview, POST /api/media/{id}/provider-link. */
(function () {
  "use strict";
  const el = PC.el;
  const page = document.getElementById("slot-page");
  const SLOT = page.dataset.slotId;
  const form = document.getElementById("slot-form");
  const saveBtn = document.getElementById("save");
  const providerSel = document.getElementById("provider");
  const opsBox = document.getElementById("operations");
  const fieldsBox = document.getElementById("settings-fields");
  const ACCEPT = ["image/jpeg", "image/png", "image/webp"];

  /** Russian labels of enum values the schemas use (the schema carries only the values). */
  const ENUM_LABELS = {
    none: "Без фильтра", vivid: "Яркий", warm: "Тёплый", cool: "Холодный", bw: "Чёрно-белый",
    sepia: "Сепия", vintage: "Винтаж", auto: "Авто", jpeg: "JPEG", png: "PNG", webp: "WEBP",
    stretch: "Растянуть на всё фото", contain: "Вписать с сохранением пропорций",
    ru: "Русский", en: "Английский",
    multipart: "Файл в форме (multipart)", binary: "Фото как тело запроса", json_base64: "JSON с base64",
    image: "Картинка (image/*)", json_url: "JSON со ссылкой", plain: "Только ключ",
  };
  /** Which template role an operation expects. */
  const KIND_BY_OPERATION = {
    overlay: "overlay", style_transfer: "style", identity_transfer: "face", filter: "reference",
  };
  const NEEDS_TEMPLATE = {
    "local:overlay": 1, "turbotext:style_transfer": 1, "turbotext:identity_transfer": 1, "comfyui:identity_transfer": 1,
  };

  const state = {
    slot: null, providers: {}, version: null, dirty: false, saving: false,
    templates: [], testFile: null, uploadLimitMb: 15,
  };

  /* ---------- loading ---------- */
  async function load() {
    document.getElementById("load-error").hidden = true;
    try {
      const slot = await PC.api("/api/slots/" + SLOT);
      state.slot = slot;
      state.providers = slot.providers || {};
      state.version = slot.version;
      state.uploadLimitMb = slot.upload_limit_mb || 15;
      fill(slot);
      document.getElementById("slot-layout").setAttribute("aria-busy", "false");
      saveBtn.disabled = false;
    } catch (err) {
      document.getElementById("load-error-text").textContent = "Не удалось загрузить слот: " + err.message;
      document.getElementById("load-error").hidden = false;
    }
  }

  function fill(slot) {
    form.display_name.value = slot.display_name || "";
    form.is_active.checked = !!slot.is_active;
    providerSel.textContent = "";
    for (const [name, p] of Object.entries(state.providers)) {
      providerSel.append(el("option", { value: name, text: p.title || name }));
    }
    providerSel.value = slot.provider;
    renderOperations(slot.provider, slot.operation);
    renderSettings(slot.provider, slot.operation, slot.settings || {});
    chain.load(slot);
    state.templates = (slot.template_media || []).slice();
    renderTemplates();
    document.getElementById("toggle-templates").checked = state.templates.length > 0 || needsTemplate();
    syncToggle("templates");
    renderMeta(slot);
    renderGallery(slot);
    renderRecent(slot.recent_results || []);
    document.querySelectorAll('[data-role="limit"]').forEach((n) => {
      n.textContent = ", до " + state.uploadLimitMb + " МБ";
    });
    setDirty(false);
  }

  function renderMeta(slot) {
    const pTitle = (state.providers[slot.provider] || {}).title || slot.provider;
    document.getElementById("model-title").textContent = pTitle;
    document.getElementById("slot-title").textContent = slot.display_name || SLOT;
    document.title = (slot.display_name || SLOT) + " · PhotoChanger";
    const pill = document.getElementById("status-pill");
    pill.className = "pill " + (slot.is_active ? "pill--ok" : "pill--off");
    pill.textContent = slot.is_active ? "Активен" : "Отключён";
    document.getElementById("meta-version").textContent = String(slot.version);
    document.getElementById("meta-updated").textContent =
      PC.fmtDateTime(slot.updated_at) + (slot.updated_by ? " · " + slot.updated_by : "");
    if (slot.sync_response_seconds) {
      document.getElementById("meta-timeout").textContent = slot.sync_response_seconds + " с";
    }
    if (slot.ingest_url) document.getElementById("ingest-url").value = slot.ingest_url;
    updateKeyHint();
  }

  /** Warns when the chosen provider needs an API key that is not configured. */
  function updateKeyHint() {
    const p = state.providers[providerSel.value] || {};
    const hint = document.getElementById("key-hint");
    const key = state.keys ? state.keys[providerSel.value] : null;
    hint.hidden = !p.needs_api_key || !!p.key_optional || !!(key && key.configured);
    hint.textContent = "";
    hint.append(
      "Ключ API для «" + (p.title || providerSel.value) + "» не задан — фото не обработаются, пока его не указать в ",
      el("a", { href: "/admin/settings", text: "настройках" }),
      "."
    );
    hint.classList.toggle("dirty-note", true);
  }

  async function loadKeys() {
    try {
      const s = await PC.api("/api/settings");
      state.keys = s.provider_keys || {};
    } catch (err) {
      state.keys = null;
    }
    updateKeyHint();
  }

  /* ---------- operations and schema-driven settings ---------- */
  function renderOperations(provider, selected) {
    const ops = (state.providers[provider] || {}).operations || {};
    opsBox.textContent = "";
    const names = Object.keys(ops);
    if (!names.includes(selected)) selected = names[0];
    for (const op of names) {
      const input = el("input", { type: "radio", name: "operation", value: op });
      input.checked = op === selected;
      opsBox.append(el("label", { class: "op-option" }, [input, ops[op]]));
    }
  }

  function currentOperation() {
    const checked = opsBox.querySelector("input:checked");
    return checked ? checked.value : null;
  }

  function schemaOf(provider, operation) {
    const p = state.providers[provider] || {};
    return ((p.settings_schema || p.schemas || {})[operation]) || { properties: {} };
  }

  function isLongText(name, prop) {
    return /prompt/.test(name) || (prop.maxLength || 0) > 300;
  }

  function renderSettings(provider, operation, values) {
    state.rendered = { provider, operation };
    const schema = schemaOf(provider, operation);
    const props = schema.properties || {};
    const required = new Set(schema.required || []);
    const secret = new Set(((state.providers[provider] || {}).secret_fields) || []);
    fieldsBox.textContent = "";
    // Object-valued settings (the QR code) have a card of their own.
    const names = Object.keys(props).filter((n) => props[n].type !== "object")
      .sort((a, b) => order(a, props[a]) - order(b, props[b]));
    for (const name of names) {
      fieldsBox.append(buildField(name, props[name], required.has(name), secret.has(name), values[name]));
    }
    if (!names.length) fieldsBox.append(el("p", { class: "hint", text: "У этой операции нет настроек." }));
    fillQr(props.qr, values.qr);
    renderTestMode();
  }

  /* ---------- QR code on the print (settings.qr) ---------- */
  const QR_INPUTS = { corner: "qr-corner", size_percent: "qr-size", margin_percent: "qr-margin", caption: "qr-caption" };

  function fillQr(schema, value) {
    const card = document.getElementById("qr-card");
    card.hidden = !schema;
    if (!schema) return;
    const props = schema.properties || {};
    const current = Object.assign({}, ...Object.entries(props).map(([k, p]) => ({ [k]: p.default })), value || {});
    document.getElementById("qr-enabled").checked = !!current.enabled;
    for (const [name, id] of Object.entries(QR_INPUTS)) {
      const input = document.getElementById(id);
      const prop = props[name] || {};
      if (prop.minimum !== undefined) input.min = prop.minimum;
      if (prop.maximum !== undefined) input.max = prop.maximum;
      if (prop.maxLength !== undefined) input.maxLength = prop.maxLength;
      input.value = current[name] !== undefined && current[name] !== null ? String(current[name]) : "";
    }
    syncToggle("qr");
  }

  /** The QR card's values (without ``enabled``); problems go into ``problems`` by field path. */
  function collectQr(problems) {
    const schema = (schemaOf(providerSel.value, currentOperation()).properties || {}).qr || { properties: {} };
    const props = schema.properties || {};
    const out = {};
    for (const [name, id] of Object.entries(QR_INPUTS)) {
      const prop = props[name] || {};
      const raw = document.getElementById(id).value.trim();
      const key = "settings.qr." + name;
      if (prop.type === "integer") {
        const num = Number(raw);
        if (!raw || !Number.isInteger(num)) problems[key] = "Нужно целое число";
        else if (num < prop.minimum) problems[key] = "Не меньше " + prop.minimum;
        else if (num > prop.maximum) problems[key] = "Не больше " + prop.maximum;
        out[name] = num;
      } else {
        if (prop.maxLength && raw.length > prop.maxLength) problems[key] = "Не длиннее " + prop.maxLength + " символов";
        out[name] = raw;
      }
    }
    return out;
  }

  async function previewQr() {
    const note = document.getElementById("qr-preview-note");
    if (!state.testFile) {
      document.getElementById("toggle-test").checked = true;
      syncToggle("test");
      note.textContent = "Сначала выберите тестовое фото в блоке «Проверка на тестовом фото».";
      PC.reveal(document.getElementById("test-card"));
      return;
    }
    clearErrors();
    const problems = {};
    const options = collectQr(problems);
    if (Object.keys(problems).length) {
      showErrors(problems);
      return;
    }
    const data = new FormData();
    data.append("test_image", state.testFile);
    data.append("qr", JSON.stringify(options));
    const btn = document.getElementById("qr-preview-run");
    PC.busy(btn, true);
    note.textContent = "Готовим предпросмотр…";
    try {
      const resp = await PC.api("/api/slots/" + SLOT + "/qr-preview", { method: "POST", form: data, raw: true });
      const img = document.getElementById("qr-preview");
      if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
      img.src = URL.createObjectURL(await resp.blob());
      document.getElementById("qr-preview-frame").hidden = false;
      note.textContent = "Так код ляжет на фото. Ссылка в нём — пример, у каждого фото своя.";
    } catch (err) {
      const fields = {};
      for (const [field, msg] of Object.entries(err.fields || {})) fields["settings." + field] = msg;
      const rest = showErrors(fields);
      note.textContent = "Предпросмотр не получился: " + (rest[0] || cleanMessage(err.message));
    } finally {
      PC.busy(btn, false);
    }
  }
  document.getElementById("qr-preview-run").addEventListener("click", previewQr);

  function order(name, prop) {
    if (name === "prompt") return 0;
    if (isLongText(name, prop)) return 1;
    if (name === "output_format") return 9;
    if (prop.type === "boolean") return 8;
    if (Array.isArray(prop.enum)) return 3;
    return prop.type === "integer" || prop.type === "number" ? 5 : 6;
  }

  /** One settings field; ``prefix`` names it for the server's errors ("settings", "fallbacks[0].settings"). */
  function buildField(name, prop, required, secret, value, prefix) {
    prefix = prefix || "settings";
    const id = (prefix === "settings" ? "set-" : prefix.replace(/[^a-z0-9]+/gi, "-") + "-") + name;
    const title = prop.title || name;
    const wrap = el("div", { class: "field", "data-field": prefix + "." + name, "data-setting": name });
    const label = el("label", { class: "field__label", for: id }, [title, required ? el("span", { class: "req", "aria-hidden": "true", text: "*" }) : null]);
    let input;
    const has = value !== undefined && value !== null;
    const initial = has ? value : prop.default;
    if (prop.type === "boolean") {
      input = el("input", { type: "checkbox", id });
      input.checked = !!initial;
      wrap.append(el("label", { class: "toggle" }, [input, el("span", { class: "toggle__track" }), title]));
    } else {
      if (Array.isArray(prop.enum)) {
        input = el("select", { class: "select", id });
        for (const v of prop.enum) input.append(el("option", { value: String(v), text: ENUM_LABELS[v] || String(v) }));
        input.value = initial !== undefined ? String(initial) : String(prop.enum[0]);
      } else if (prop.type === "integer" || prop.type === "number") {
        input = el("input", {
          class: "input", id, type: "number", inputmode: prop.type === "integer" ? "numeric" : "decimal",
          min: prop.minimum, max: prop.maximum, step: prop.type === "integer" ? "1" : "any",
        });
        input.value = initial !== undefined ? String(initial) : "";
      } else if (isLongText(name, prop)) {
        input = el("textarea", { class: "textarea", id, maxlength: prop.maxLength, placeholder: name === "prompt" ? "Опишите, что сделать с фото…" : null });
        input.value = initial !== undefined ? String(initial) : "";
        wrap.classList.add("field--wide");
      } else {
        input = el("input", { class: "input", id, type: secret ? "password" : "text", maxlength: prop.maxLength });
        input.value = initial !== undefined ? String(initial) : "";
      }
      wrap.append(label, input);
    }
    input.name = prefix + "." + name;
    input.dataset.type = prop.type || "string";
    if (required) input.required = true;
    wrap.append(el("span", { class: "field__error", role: "alert" }));
    if (prop.description) wrap.append(el("span", { class: "hint", text: prop.description }));
    return wrap;
  }

  /** Current settings from the form; [values, problems] with client-side checks. */
  function collectSettings() {
    return collectFields(fieldsBox, schemaOf(providerSel.value, currentOperation()), "settings");
  }

  /** The values of the schema fields in ``box`` (named ``prefix.<name>``); [values, problems]. */
  function collectFields(box, schema, prefix) {
    const props = schema.properties || {};
    const required = new Set(schema.required || []);
    const values = {};
    const problems = {};
    for (const wrap of box.querySelectorAll("[data-setting]")) {
      const name = wrap.dataset.setting;
      const prop = props[name] || {};
      const input = wrap.querySelector("input, select, textarea");
      const key = prefix + "." + name;
      if (prop.type === "boolean") {
        values[name] = input.checked;
        continue;
      }
      const raw = input.value.trim();
      if (!raw) {
        if (required.has(name) || prop.minLength) problems[key] = "Заполните это поле";
        continue;
      }
      if (prop.type === "integer" || prop.type === "number") {
        const num = Number(raw);
        if (!Number.isFinite(num) || (prop.type === "integer" && !Number.isInteger(num))) {
          problems[key] = prop.type === "integer" ? "Нужно целое число" : "Нужно число";
          continue;
        }
        if (prop.minimum !== undefined && num < prop.minimum) problems[key] = "Не меньше " + prop.minimum;
        else if (prop.maximum !== undefined && num > prop.maximum) problems[key] = "Не больше " + prop.maximum;
        values[name] = num;
      } else {
        if (prop.maxLength && raw.length > prop.maxLength) problems[key] = "Не длиннее " + prop.maxLength + " символов";
        values[name] = name.includes("prompt") ? input.value : raw;
      }
    }
    if (props.qr) values.qr = Object.assign({ enabled: document.getElementById("qr-enabled").checked }, collectQr(problems));
    return [values, problems];
  }

  /* ---------- validation display ---------- */
  function clearErrors() {
    form.querySelectorAll(".field.has-error").forEach((f) => f.classList.remove("has-error"));
  }

  function cleanMessage(msg) {
    const m = String(msg || "").replace(/^Поле «[^»]*»:\s*/, "");
    return m.charAt(0).toUpperCase() + m.slice(1);
  }

  /** Shows messages next to their fields; returns the messages no field took. */
  function showErrors(errors) {
    const rest = [];
    let first = null;
    for (const [field, msg] of Object.entries(errors)) {
      let wrap = form.querySelector('[data-field="' + CSS.escape(field) + '"]');
      if (!wrap && field.startsWith("template_media")) wrap = form.querySelector('[data-field="template_media"]');
      if (!wrap && field === "settings") wrap = fieldsBox.querySelector("[data-setting]");
      if (!wrap) {
        rest.push(cleanMessage(msg));
        continue;
      }
      wrap.classList.add("has-error");
      wrap.querySelector(".field__error").textContent = cleanMessage(msg);
      first = first || wrap;
    }
    if (first) {
      PC.reveal(first);
      const input = first.querySelector("input, select, textarea");
      if (input) input.focus({ preventScroll: true });
    }
    return rest;
  }

  const chain = window.SlotChain({
    el,
    providers: () => state.providers,
    schemaOf,
    buildField,
    collectFields,
    order,
    changed: () => setDirty(true),
  });

  /* ---------- dirty state ---------- */
  function setDirty(on) {
    state.dirty = on;
    document.getElementById("dirty-note").hidden = !on;
  }
  /** File pickers and section toggles are not slot settings (the QR toggle is: qr.enabled). */
  function untracked(target) {
    return target.type === "file" || (target.id || "").startsWith("toggle-");
  }
  form.addEventListener("input", (ev) => {
    if (untracked(ev.target)) return;
    const wrap = ev.target.closest(".field");
    if (wrap) wrap.classList.remove("has-error");
    setDirty(true);
  });
  form.addEventListener("change", (ev) => {
    if (untracked(ev.target)) return;
    setDirty(true);
  });
  window.addEventListener("beforeunload", (ev) => {
    if (state.dirty) {
      ev.preventDefault();
      ev.returnValue = "";
    }
  });

  /** Values carried to another provider or operation: one left at the old default takes the new default
   * (a shipped ComfyUI workflow is replaced by the new operation's one, an edited one is kept). */
  function carried(values, provider, operation) {
    const from = state.rendered || {};
    const before = schemaOf(from.provider, from.operation).properties || {};
    const after = schemaOf(provider, operation).properties || {};
    const same = (a, b) => (typeof a === "string" && typeof b === "string" ? a.trim() === b.trim() : a === b);
    const out = {};
    for (const [name, value] of Object.entries(values)) {
      const old = (before[name] || {}).default;
      if (old !== undefined && same(value, old) && (after[name] || {}).default !== undefined) continue;
      out[name] = value;
    }
    return out;
  }

  providerSel.addEventListener("change", () => {
    const [values] = collectSettings();
    renderOperations(providerSel.value, null);
    renderSettings(providerSel.value, currentOperation(), carried(values, providerSel.value, currentOperation()));
    document.getElementById("model-title").textContent = (state.providers[providerSel.value] || {}).title || providerSel.value;
    updateKeyHint();
    renderTemplates();
  });
  opsBox.addEventListener("change", () => {
    const [values] = collectSettings();
    renderSettings(providerSel.value, currentOperation(), carried(values, providerSel.value, currentOperation()));
    renderTemplates();
  });

  /* ---------- save ---------- */
  async function save() {
    clearErrors();
    const problems = {};
    const name = form.display_name.value.trim();
    if (!name) problems.display_name = "Введите название слота";
    const [settings, settingProblems] = collectSettings();
    Object.assign(problems, settingProblems);
    const [chainFields, chainProblems] = chain.collect();
    Object.assign(problems, chainProblems);
    if (Object.keys(problems).length) {
      showErrors(problems);
      PC.toast("Проверьте выделенные поля", "error");
      return false;
    }
    const body = {
      display_name: name,
      is_active: form.is_active.checked,
      provider: providerSel.value,
      operation: currentOperation(),
      settings,
      ...chainFields,
    };
    if (state.version !== null && state.version !== undefined) body.version = state.version;
    PC.busy(saveBtn, true);
    try {
      await PC.api("/api/slots/" + SLOT, { method: "PUT", json: body });
      const fresh = await PC.api("/api/slots/" + SLOT);
      state.slot = fresh;
      state.version = fresh.version;
      renderMeta(fresh);
      setDirty(false);
      pulse(form);
      PC.toast("Настройки слота сохранены");
      return true;
    } catch (err) {
      if (err.status === 409 && (err.data || {}).failure_reason === "version_conflict") {
        PC.toast("Слот изменили в другой вкладке или другим администратором. Обновите страницу, чтобы увидеть новую версию.", "error");
        return false;
      }
      const rest = showErrors(err.fields);
      if (rest.length || !Object.keys(err.fields).length) PC.toast(rest[0] || err.message, "error");
      else PC.toast("Сервер не принял изменения: проверьте выделенные поля", "error");
      return false;
    } finally {
      PC.busy(saveBtn, false);
    }
  }
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    save();
  });

  function pulse(node) {
    node.classList.remove("-pulse");
    void node.offsetWidth;
    node.classList.add("-pulse");
  }

  /* ---------- toggled sections ---------- */
  /** A section's switch: the QR one is a setting itself (qr.enabled), the others only show a section. */
  function toggleOf(name) {
    return document.getElementById(name === "qr" ? "qr-enabled" : "toggle-" + name);
  }
  function syncToggle(name) {
    document.getElementById(name + "-body").hidden = !toggleOf(name).checked;
  }
  for (const name of ["templates", "test", "qr"]) {
    toggleOf(name).addEventListener("change", () => syncToggle(name));
  }

  /* ---------- file picking ---------- */
  function checkFile(file) {
    if (!file) return "Файл не выбран";
    if (!ACCEPT.includes(file.type)) return "Нужен файл JPEG, PNG или WEBP";
    if (file.size > state.uploadLimitMb * 1024 * 1024) return "Файл больше " + state.uploadLimitMb + " МБ";
    return null;
  }

  function bindDrop(zoneId, inputId, onFile) {
    const zone = document.getElementById(zoneId);
    const input = document.getElementById(inputId);
    const wrap = zone.closest(".field");
    const pick = (file) => {
      const problem = checkFile(file);
      wrap.classList.toggle("has-error", !!problem);
      zone.classList.toggle("has-error", !!problem);
      if (problem) {
        wrap.querySelector(".field__error").textContent = problem;
        return;
      }
      onFile(file);
    };
    zone.addEventListener("click", () => input.click());
    zone.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" || ev.key === " ") {
        ev.preventDefault();
        input.click();
      }
    });
    zone.addEventListener("dragover", (ev) => {
      ev.preventDefault();
      zone.classList.add("is-over");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("is-over"));
    zone.addEventListener("drop", (ev) => {
      ev.preventDefault();
      zone.classList.remove("is-over");
      if (ev.dataTransfer.files.length) pick(ev.dataTransfer.files[0]);
    });
    input.addEventListener("change", () => {
      if (input.files.length) pick(input.files[0]);
      input.value = "";
    });
  }

  /* ---------- templates ---------- */
  function needsTemplate() {
    return !!NEEDS_TEMPLATE[providerSel.value + ":" + currentOperation()];
  }

  function renderTemplates() {
    const box = document.getElementById("template-thumbs");
    box.textContent = "";
    for (const t of state.templates) {
      const id = t.media_object_id || t.id;
      const remove = el("button", { class: "thumb__remove", type: "button", text: "Убрать", "aria-label": "Убрать шаблон" });
      remove.addEventListener("click", () => removeTemplate(id, remove));
      const link = el("button", {
        class: "thumb__link", type: "button", text: "Ссылка",
        title: "Ссылка, по которой провайдер скачивает шаблон: проверьте, что она открывается не из локальной сети",
      });
      link.addEventListener("click", () => providerLink(id, link));
      box.append(el("div", { class: "thumb", "data-media-id": id }, [
        el("img", { src: t.url || "/api/template-media/" + id, alt: "Шаблон", loading: "lazy" }),
        el("div", { class: "thumb__bar" }, [el("span", { text: (t.mime || "").replace("image/", "").toUpperCase() }), link, remove]),
      ]));
    }
    const max = (state.providers[providerSel.value] || {}).max_templates;
    const full = max !== null && max !== undefined && state.templates.length >= max;
    document.getElementById("template-drop").hidden = full;
    const hint = document.getElementById("templates-hint");
    const parts = [];
    if (needsTemplate()) parts.push("Для этой операции шаблон обязателен.");
    if (full) parts.push("Провайдер принимает не больше " + max + " шаблона: уберите текущий, чтобы загрузить другой.");
    hint.textContent = parts.length ? parts.join(" ") : "Изображение №2: рамка, стиль, лицо или фон — зависит от операции.";
    if (needsTemplate() && !state.templates.length) {
      document.getElementById("toggle-templates").checked = true;
      syncToggle("templates");
    }
  }

  async function uploadTemplate(file) {
    const data = new FormData();
    data.append("file", file);
    data.append("slot_id", SLOT);
    data.append("media_kind", KIND_BY_OPERATION[currentOperation()] || "reference");
    const box = document.getElementById("template-thumbs");
    const local = URL.createObjectURL(file);
    const placeholder = el("div", { class: "thumb is-uploading" }, [
      el("img", { src: local, alt: "Загрузка шаблона" }),
      el("div", { class: "thumb__bar" }, [el("span", { text: "Загрузка…" })]),
    ]);
    box.append(placeholder);
    try {
      const res = await PC.api("/api/template-media/register", { method: "POST", form: data });
      const media = (res && (res.media || res.template || res)) || {};
      state.templates.push({
        media_object_id: media.media_object_id || media.id,
        mime: media.mime || file.type,
        url: media.url,
      });
      await refreshVersion();
      renderTemplates();
      PC.toast("Шаблон загружен и сохранён");
    } catch (err) {
      placeholder.remove();
      const wrap = document.querySelector('[data-field="template_media"]');
      wrap.classList.add("has-error");
      wrap.querySelector(".field__error").textContent = cleanMessage(err.message);
      PC.toast("Шаблон не загружен: " + cleanMessage(err.message), "error");
    } finally {
      URL.revokeObjectURL(local);
    }
  }

  async function removeTemplate(id, btn) {
    const ok = await PC.confirm({
      title: "Убрать шаблон?",
      text: "Шаблон будет удалён из слота. Следующие фото обработаются без него.",
      ok: "Убрать",
    });
    if (!ok) return;
    PC.busy(btn, true);
    try {
      await PC.api("/api/template-media/" + encodeURIComponent(id), { method: "DELETE" });
      state.templates = state.templates.filter((t) => (t.media_object_id || t.id) !== id);
      await refreshVersion();
      renderTemplates();
      PC.toast("Шаблон убран");
    } catch (err) {
      PC.busy(btn, false);
      PC.toast("Не удалось убрать шаблон: " + err.message, "error");
    }
  }

  /** A short-lived public link to the template, as a URL-fetching provider gets it (PUBLIC_BASE_URL, NAT, nginx). */
  async function providerLink(id, btn) {
    PC.busy(btn, true);
    try {
      const res = await PC.api("/api/media/" + encodeURIComponent(id) + "/provider-link", { method: "POST" });
      PC.busy(btn, false);
      await PC.copyText(res.url, btn);
      PC.toast("Ссылка для провайдера (действует 10 мин) скопирована — откройте её вне локальной сети: " + res.url);
    } catch (err) {
      PC.busy(btn, false);
      PC.toast("Не удалось опубликовать ссылку: " + cleanMessage(err.message), "error");
    }
  }

  /** Template changes bump the slot version; keep ours current so Save does not conflict. */
  async function refreshVersion() {
    try {
      const fresh = await PC.api("/api/slots/" + SLOT);
      state.version = fresh.version;
      document.getElementById("meta-version").textContent = String(fresh.version);
      renderRecent(fresh.recent_results || []);
    } catch (err) {
      /* the next save reports a conflict if any */
    }
  }

  bindDrop("template-drop", "template-file", uploadTemplate);

  /* ---------- test run ---------- */
  const runBtn = document.getElementById("run-test");
  let resultUrl = null;

  /** Whether the chosen operation makes pictures from the prompt alone (no test photo). */
  function isTextToImage() {
    const ops = (state.providers[providerSel.value] || {}).text_to_image_operations || [];
    return ops.includes(currentOperation());
  }

  function renderTestMode() {
    const t2i = isTextToImage();
    document.getElementById("test-t2i-note").hidden = !t2i;
    document.querySelector('[data-field="test_image"]').hidden = t2i;
    document.getElementById("test-original-figure").hidden = t2i;
    if (t2i) document.getElementById("compare").hidden = false;
    else if (!state.testFile) document.getElementById("compare").hidden = true;
    runBtn.disabled = !t2i && !state.testFile;
  }

  bindDrop("test-drop", "test-file", (file) => {
    state.testFile = file;
    const img = document.getElementById("test-original");
    if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
    img.src = URL.createObjectURL(file);
    document.getElementById("compare").hidden = false;
    setResult("idle", "Нажмите «Запустить тест»");
    runBtn.disabled = false;
    document.getElementById("test-note").textContent = file.name;
  });

  function setResult(kind, text) {
    const status = document.getElementById("result-status");
    const img = document.getElementById("test-result");
    status.hidden = kind === "done";
    status.className = "frame__status" + (kind === "error" ? " is-error" : "");
    status.textContent = "";
    if (kind === "running") status.append(el("div", { class: "spinner" }));
    status.append(text || "");
    img.hidden = kind !== "done";
    if (kind !== "done") document.getElementById("test-result-link").hidden = true;
  }

  async function runTest() {
    const t2i = isTextToImage();
    if (!t2i && !state.testFile) return;
    if (state.dirty) {
      const go = await PC.confirm({
        title: "Сохранить изменения?",
        text: "Тест идёт по сохранённым настройкам слота. Сохранить текущие изменения и запустить тест?",
        ok: "Сохранить и проверить",
        danger: false,
      });
      if (!go || !(await save())) return;
    }
    const data = new FormData();
    if (!t2i) data.append("test_image", state.testFile);
    PC.busy(runBtn, true);
    const started = Date.now();
    setResult("running", "Обработка…");
    const timer = setInterval(() => {
      const s = Math.round((Date.now() - started) / 1000);
      const status = document.getElementById("result-status");
      status.lastChild.textContent = "Обработка… " + s + " с";
    }, 1000);
    try {
      const resp = await PC.api("/api/slots/" + SLOT + "/test-run", { method: "POST", form: data, raw: true });
      const blob = await resp.blob();
      const img = document.getElementById("test-result");
      if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
      img.src = URL.createObjectURL(blob);
      setResult("done", "");
      resultUrl = resp.headers.get("X-Result-Url");
      const jobId = resp.headers.get("X-Job-Id");
      const link = document.getElementById("test-result-link");
      if (jobId) {
        link.href = "/public/results/" + encodeURIComponent(jobId) + "/view";
        link.hidden = false;
      }
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      document.getElementById("test-note").textContent = "Готово за " + secs + " с";
      PC.toast("Тест выполнен: результат готов");
      pulse(document.getElementById("result-frame"));
      refreshVersion();
    } catch (err) {
      setResult("error", err.message);
      PC.toast("Тест не удался: " + err.message, "error");
    } finally {
      clearInterval(timer);
      PC.busy(runBtn, false);
    }
  }
  runBtn.addEventListener("click", runTest);

  /* ---------- gallery, recent results, cleanup ---------- */
  function renderGallery(slot) {
    const url = slot.gallery_url || "";
    document.getElementById("gallery-url").value = url;
    document.getElementById("gallery-open").href = url || "#";
    PC.showLinkEnds(document);
  }

  function renderRecent(items) {
    const box = document.getElementById("recent");
    box.textContent = "";
    for (const r of items.slice(0, 6)) {
      const href = "/public/results/" + encodeURIComponent(r.job_id) + "/view";
      box.append(el("a", { class: "thumb", href, target: "_blank", rel: "noopener", title: PC.fmtDateTime(r.finished_at || r.started_at) }, [
        el("img", { src: r.preview_url || "/public/results/" + r.job_id + "/preview", alt: "Результат" }),
        el("div", { class: "thumb__bar" }, [el("span", { text: PC.fmtAgo(r.finished_at || r.started_at) }), el("span", { text: r.source === "ui_test" ? "тест" : "" })]),
      ]));
    }
    document.getElementById("recent-empty").hidden = items.length > 0;
  }

  document.getElementById("gallery-rotate").addEventListener("click", async (ev) => {
    const btn = ev.currentTarget;
    const ok = await PC.confirm({
      title: "Заменить ссылку на галерею?",
      text: "Старая ссылка и QR-коды с ней перестанут работать сразу.",
      ok: "Заменить",
    });
    if (!ok) return;
    PC.busy(btn, true);
    try {
      const res = await PC.api("/api/slots/" + SLOT + "/gallery-token", { method: "POST" });
      const fresh = res && res.gallery_url ? res : await PC.api("/api/slots/" + SLOT);
      renderGallery(fresh);
      PC.toast("Новая ссылка на галерею создана");
    } catch (err) {
      PC.toast("Не удалось заменить ссылку: " + err.message, "error");
    } finally {
      PC.busy(btn, false);
    }
  });

  document.getElementById("cleanup").addEventListener("click", async (ev) => {
    const btn = ev.currentTarget;
    const ok = await PC.confirm({
      title: "Очистить устаревшие файлы слота?",
      text: "Будут удалены файлы с истёкшим сроком хранения. Действующие результаты и шаблоны останутся.",
      ok: "Очистить",
    });
    if (!ok) return;
    PC.busy(btn, true);
    try {
      const res = await PC.api("/api/slots/" + SLOT + "/cleanup", { method: "POST" });
      const n = res && typeof res.files_removed === "number" ? res.files_removed : null;
      const mb = res && res.bytes_freed ? " (" + (res.bytes_freed / 1048576).toFixed(1) + " МБ)" : "";
      PC.toast(n ? "Удалено устаревших файлов: " + n + mb : "Устаревших файлов нет — всё актуально");
      await refreshVersion();
    } catch (err) {
      PC.toast("Не удалось очистить: " + err.message, "error");
    } finally {
      PC.busy(btn, false);
    }
  });

  document.getElementById("load-retry").addEventListener("click", load);
  load().then(loadKeys);
})();
