/* Login page: POST /api/login; the server sets the HttpOnly JWT cookie. */
(function () {
  "use strict";
  const form = document.getElementById("login-form");
  const errorBox = document.getElementById("login-error");
  const submit = document.getElementById("login-submit");
  const pw = document.getElementById("password");

  document.getElementById("toggle-password").addEventListener("click", (ev) => {
    const show = pw.type === "password";
    pw.type = show ? "text" : "password";
    ev.currentTarget.setAttribute("aria-pressed", String(show));
    ev.currentTarget.setAttribute("aria-label", show ? "Скрыть пароль" : "Показать пароль");
  });

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    showError("");
    let ok = true;
    for (const input of [form.username, form.password]) {
      const empty = !input.value.trim();
      input.closest(".field").classList.toggle("has-error", empty);
      if (empty && ok) input.focus();
      ok = ok && !empty;
    }
    if (!ok) return;
    PC.busy(submit, true);
    try {
      await PC.api("/api/login", {
        method: "POST",
        json: { username: form.username.value.trim(), password: form.password.value, cookie: true },
        noRedirect: true,
      });
      window.location.assign(form.dataset.next || "/admin/");
    } catch (err) {
      showError(err.status === 401 ? err.message || "Неверное имя пользователя или пароль" : err.message);
      PC.busy(submit, false);
      form.password.select();
    }
  });
  for (const input of [form.username, form.password]) {
    input.addEventListener("input", () => input.closest(".field").classList.remove("has-error"));
  }
})();
