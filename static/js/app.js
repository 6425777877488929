/* Shared helpers of the admin pages: API calls with the CSRF header, toasts,
 * confirmation dialogs, copy buttons, date formatting. No dependencies. */
(function () {
  "use strict";

  const body = document.body;
  const CSRF_COOKIE = body.dataset.csrfCookie || "csrf_access_token";
  const CSRF_HEADER = body.dataset.csrfHeader || "X-CSRF-TOKEN";
  const LOGIN_URL = "/admin/login";

  const STATUS_TEXT = {
    0: "Нет связи с сервером. Проверьте подключение и повторите.",
    400: "Проверьте заполнение полей.",
    401: "Сессия истекла, войдите снова.",
    403: "Недостаточно прав для этого действия.",
    404: "Не найдено.",
    409: "Данные изменились на сервере. Обновите страницу.",
    413: "Файл слишком большой.",
    415: "Формат файла не поддерживается: нужен JPEG, PNG или WEBP.",
    429: "Слишком много запросов, подождите немного.",
    500: "Внутренняя ошибка сервера.",
    502: "Провайдер не вернул изображение.",
    503: "Провайдер временно недоступен.",
    504: "Обработка не уложилась в отведённое время.",
  };

  function cookie(name) {
    const parts = document.cookie ? document.cookie.split("; ") : [];
    for (const part of parts) {
      const eq = part.indexOf("=");
      if (part.slice(0, eq) === name) return decodeURIComponent(part.slice(eq + 1));
    }
    return null;
  }

  class ApiFailure extends Error {
    constructor(status, message, data) {
      super(message);
      this.status = status;
      this.data = data || null;
    }
    /** Field errors of a 400 answer as {field: message}. */
    get fields() {
      const d = this.data || {};
      const out = {};
      if (typeof d.field === "string") out[d.field] = d.message || "";
      const src = d.fields || d.errors || d.field_errors || (d.details && d.details.fields) || null;
      if (Array.isArray(src)) {
        for (const e of src) if (e && e.field) out[e.field] = e.message || String(e);
      } else if (src && typeof src === "object") {
        for (const [k, v] of Object.entries(src)) out[k] = Array.isArray(v) ? v.join("; ") : String(v);
      }
      return out;
    }
  }

  /**
   * Calls the JSON API with the JWT cookie and CSRF header.
   * opts: method, json, form (FormData), raw (return the Response), noRedirect.
   */
  async function api(path, opts) {
    opts = opts || {};
    const method = opts.method || "GET";
    const headers = { Accept: "application/json" };
    let payload;
    if (method !== "GET" && method !== "HEAD") {
      const token = cookie(CSRF_COOKIE);
      if (token) headers[CSRF_HEADER] = token;
    }
    if (opts.json !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(opts.json);
    } else if (opts.form) {
      payload = opts.form;
    }
    let resp;
    try {
      resp = await fetch(path, { method, headers, body: payload, credentials: "same-origin", cache: "no-store" });
    } catch (err) {
      throw new ApiFailure(0, STATUS_TEXT[0], null);
    }
    if (resp.status === 401 && !opts.noRedirect) {
      window.location.assign(LOGIN_URL + "?next=" + encodeURIComponent(location.pathname + location.search));
      throw new ApiFailure(401, STATUS_TEXT[401], null);
    }
    if (!resp.ok) {
      let data = null;
      try {
        data = await resp.json();
      } catch (e) {
        data = null;
      }
      const msg = (data && (data.message || data.msg)) || STATUS_TEXT[resp.status] || "Ошибка " + resp.status;
      throw new ApiFailure(resp.status, msg, data);
    }
    if (opts.raw) return resp;
    if (resp.status === 204) return null;
    const text = await resp.text();
    return text ? JSON.parse(text) : null;
  }

  /* ---------- toasts ---------- */
  let toastBox = null;
  function toast(message, kind) {
    if (!toastBox) {
      toastBox = document.createElement("div");
      toastBox.className = "toasts";
      toastBox.setAttribute("role", "status");
      toastBox.setAttribute("aria-live", "polite");
      document.body.appendChild(toastBox);
    }
    const el = document.createElement("div");
    el.className = "toast" + (kind === "error" ? " toast--error" : "");
    el.dataset.kind = kind || "success";
    const text = document.createElement("span");
    text.textContent = message;
    const close = document.createElement("button");
    close.className = "toast__close";
    close.type = "button";
    close.setAttribute("aria-label", "Закрыть");
    close.textContent = "×";
    close.addEventListener("click", () => el.remove());
    el.append(text, close);
    toastBox.appendChild(el);
    setTimeout(() => el.remove(), kind === "error" ? 8000 : 4500);
    return el;
  }

  /* ---------- confirmation dialog ---------- */
  function confirmDialog(o) {
    return new Promise((resolve) => {
      const dlg = document.createElement("dialog");
      dlg.className = "confirm";
      dlg.innerHTML =
        '<form method="dialog"><div class="confirm__body"><h2></h2><p></p></div>' +
        '<div class="confirm__actions"><button class="btn" value="cancel" type="submit">Отмена</button>' +
        '<button class="btn" value="ok" type="submit" data-role="ok"></button></div></form>';
      dlg.querySelector("h2").textContent = o.title || "Подтвердите действие";
      dlg.querySelector("p").textContent = o.text || "";
      const ok = dlg.querySelector('[data-role="ok"]');
      ok.textContent = o.ok || "Подтвердить";
      ok.classList.add(o.danger === false ? "btn--primary" : "btn--danger-solid");
      document.body.appendChild(dlg);
      dlg.addEventListener("close", () => {
        resolve(dlg.returnValue === "ok");
        dlg.remove();
      });
      dlg.showModal();
      ok.focus();
    });
  }

  /* ---------- buttons ---------- */
  function busy(btn, on) {
    if (!btn) return;
    btn.disabled = !!on;
    btn.classList.toggle("is-loading", !!on);
    btn.setAttribute("aria-busy", on ? "true" : "false");
  }

  async function copyText(text, btn) {
    let ok = false;
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
        ok = true;
      }
    } catch (e) {
      ok = false;
    }
    if (!ok) {
      const ta = document.createElement("textarea");
      ta.value = text;
      ta.setAttribute("readonly", "");
      ta.style.position = "fixed";
      ta.style.opacity = "0";
      document.body.appendChild(ta);
      ta.select();
      try {
        ok = document.execCommand("copy");
      } catch (e) {
        ok = false;
      }
      ta.remove();
    }
    if (btn) {
      const label = btn.dataset.label || btn.textContent;
      btn.dataset.label = label;
      btn.textContent = ok ? "Скопировано" : "Не удалось";
      btn.classList.add("is-copied");
      setTimeout(() => {
        btn.textContent = label;
        btn.classList.remove("is-copied");
      }, 1600);
    }
    if (!ok) toast("Не удалось скопировать: выделите ссылку и скопируйте вручную", "error");
    return ok;
  }

  /** Scrolls read-only link fields to their end: the slot part of a long URL stays visible. */
  function showLinkEnds(root) {
    (root || document).querySelectorAll(".copyfield input").forEach((input) => {
      input.scrollLeft = input.scrollWidth;
    });
  }

  /** Wires every [data-copy-from] button to copy the value of the element it names. */
  function bindCopyButtons(root) {
    (root || document).querySelectorAll("[data-copy-from]").forEach((btn) => {
      if (btn.dataset.bound) return;
      btn.dataset.bound = "1";
      btn.addEventListener("click", () => {
        const src = document.getElementById(btn.dataset.copyFrom);
        if (src) copyText(src.value || src.textContent, btn);
      });
    });
  }

  /* ---------- dates ---------- */
  function parseDate(iso) {
    if (!iso) return null;
    const d = new Date(iso);
    return isNaN(d.getTime()) ? null : d;
  }
  function fmtDateTime(iso) {
    const d = parseDate(iso);
    if (!d) return "—";
    return d.toLocaleString("ru-RU", { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
  }
  function fmtAgo(iso) {
    const d = parseDate(iso);
    if (!d) return "нет";
    const sec = Math.max(0, Math.round((Date.now() - d.getTime()) / 1000));
    if (sec < 60) return "только что";
    const min = Math.round(sec / 60);
    if (min < 60) return min + " " + plural(min, "минуту", "минуты", "минут") + " назад";
    const h = Math.round(min / 60);
    if (h < 24) return h + " " + plural(h, "час", "часа", "часов") + " назад";
    return fmtDateTime(iso);
  }
  function plural(n, one, few, many) {
    const m10 = n % 10;
    const m100 = n % 100;
    if (m10 === 1 && m100 !== 11) return one;
    if (m10 >= 2 && m10 <= 4 && (m100 < 12 || m100 > 14)) return few;
    return many;
  }

  /* ---------- logout ---------- */
  function bindLogout() {
    const btn = document.getElementById("logout");
    if (!btn) return;
    btn.addEventListener("click", async (ev) => {
      ev.preventDefault();
      busy(btn, true);
      try {
        await api("/api/logout", { method: "POST", noRedirect: true });
      } catch (e) {
        /* the cookie is dropped server-side; go to the login page anyway */
      }
      window.location.assign(LOGIN_URL);
    });
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of [].concat(children || [])) {
      if (c === null || c === undefined) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  /** Scrolls ``node`` into the middle of the view: smoothly, unless the system asks for reduced motion. */
  function reveal(node) {
    const still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    node.scrollIntoView({ behavior: still ? "auto" : "smooth", block: "center" });
  }

  window.PC = {
    api, ApiFailure, toast, confirm: confirmDialog, busy, copyText, bindCopyButtons,
    fmtDateTime, fmtAgo, plural, el, cookie, showLinkEnds, reveal,
  };

  document.addEventListener("DOMContentLoaded", () => {
    bindCopyButtons(document);
    bindLogout();
    showLinkEnds(document);
  });
})();
