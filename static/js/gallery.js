/* All-slots gallery: GET /api/gallery, and the share links (GET|POST /api/gallery/shares, DELETE to revoke). */
(function () {
  "use strict";
  const el = PC.el;
  const slotsBox = document.getElementById("gallery-slots");
  const shareList = document.getElementById("share-list");

  function renderSlots(data) {
    slotsBox.textContent = "";
    for (const slot of data.slots || []) {
      const grid = el("div", { class: "gallery" });
      for (const r of slot.results) {
        const pin = el("button", { class: "btn btn--sm", type: "button", "data-role": "pin", text: r.pinned ? "Открепить" : "Закрепить" });
        const hide = el("button", { class: "btn btn--sm" + (r.hidden ? "" : " btn--danger"), type: "button", "data-role": "hide", text: r.hidden ? "Показать" : "Скрыть" });
        pin.addEventListener("click", () => mark(slot.slot_id, r, { pinned: !r.pinned }, pin));
        hide.addEventListener("click", () => mark(slot.slot_id, r, { hidden: !r.hidden }, hide));
        const badges = [];
        if (r.pinned) badges.push(el("span", { class: "pill pill--ok", text: "Закреплено" }));
        if (r.hidden) badges.push(el("span", { class: "pill pill--off", text: "Скрыто от гостей" }));
        grid.append(el("article", { class: "shot" + (r.hidden ? " is-hidden" : ""), "data-job-id": r.job_id }, [
          el("a", { class: "shot__img", href: r.result_url, target: "_blank", rel: "noopener" }, [
            el("img", { src: r.preview_url, alt: "Фото " + slot.display_name, loading: "lazy" }),
          ]),
          el("div", { class: "shot__foot" }, [el("time", { text: PC.fmtDateTime(r.finished_at) }), ...badges]),
          el("div", { class: "shot__actions" }, [pin, hide]),
        ]));
      }
      slotsBox.append(el("section", { class: "gallery-section", "data-slot-id": slot.slot_id }, [
        el("h2", {}, [el("a", { href: "/admin/slots/" + encodeURIComponent(slot.slot_id), text: slot.display_name })]),
        grid,
      ]));
    }
    if (!(data.slots || []).length) {
      slotsBox.append(el("div", { class: "card empty", text: "Пока нет ни одного фото: они появятся после первых обработок." }));
    }
  }

  function renderShares(data) {
    shareList.textContent = "";
    for (const s of data.shares || []) {
      const id = "share-url-" + s.id;
      const revoke = el("button", { class: "btn btn--sm btn--danger", type: "button", text: "Отозвать" });
      revoke.addEventListener("click", () => revokeShare(s, revoke));
      shareList.append(el("li", { class: "share-item", "data-share-id": s.id }, [
        el("div", { class: "share-item__meta" }, [
          el("strong", { text: s.label || "Без названия" }),
          el("span", { class: "muted", text: " · до " + PC.fmtDateTime(s.expires_at) + (s.created_by ? " · создал " + s.created_by : "") }),
        ]),
        el("div", { class: "copyfield" }, [
          el("input", { id: id, value: s.url, readonly: "" }),
          el("button", { class: "btn", type: "button", "data-copy-from": id, text: "Копировать" }),
        ]),
        revoke,
      ]));
    }
    document.getElementById("share-empty").hidden = !!(data.shares || []).length;
    PC.bindCopyButtons(shareList);
  }

  /* Hide a result from guests (a guest asked), or pin it to the top of its gallery. */
  async function mark(slotId, result, change, btn) {
    if (change.hidden) {
      const ok = await PC.confirm({
        title: "Скрыть фото от гостей?",
        text: "Фото исчезнет из публичных галерей и архивов «Скачать все». Ссылка, которая уже есть у гостя, продолжит работать.",
        ok: "Скрыть",
      });
      if (!ok) return;
    }
    PC.busy(btn, true);
    try {
      const url = "/api/gallery/slots/" + encodeURIComponent(slotId) + "/results/" + encodeURIComponent(result.job_id);
      await PC.api(url, { method: "PATCH", json: change });
      PC.toast(change.hidden === true ? "Фото скрыто от гостей" : change.hidden === false ? "Фото снова видно гостям"
        : change.pinned ? "Фото закреплено" : "Фото откреплено");
      renderSlots(await PC.api("/api/gallery"));
    } catch (err) {
      PC.toast("Не удалось изменить фото: " + err.message, "error");
      PC.busy(btn, false);
    }
  }

  async function revokeShare(share, btn) {
    const ok = await PC.confirm({
      title: "Отозвать ссылку?",
      text: "Гости, у которых есть эта ссылка, больше не смогут открыть галерею.",
      ok: "Отозвать",
    });
    if (!ok) return;
    PC.busy(btn, true);
    try {
      await PC.api("/api/gallery/shares/" + encodeURIComponent(share.id), { method: "DELETE" });
      PC.toast("Ссылка отозвана");
      renderShares(await PC.api("/api/gallery/shares"));
    } catch (err) {
      PC.toast("Не удалось отозвать ссылку: " + err.message, "error");
    } finally {
      PC.busy(btn, false);
    }
  }

  async function load() {
    const err = document.getElementById("gallery-error");
    try {
      const [galleries, shares] = await Promise.all([PC.api("/api/gallery"), PC.api("/api/gallery/shares")]);
      renderSlots(galleries);
      renderShares(shares);
      err.hidden = true;
      document.getElementById("gallery-updated").textContent =
        "обновлено в " + new Date().toLocaleTimeString("ru-RU", { hour: "2-digit", minute: "2-digit" });
    } catch (e) {
      err.textContent = "Не удалось загрузить галерею: " + e.message;
      err.hidden = false;
    }
  }

  document.getElementById("share-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const btn = document.getElementById("share-create");
    PC.busy(btn, true);
    try {
      const body = {
        expires_in_hours: Number(document.getElementById("share-hours").value),
        label: document.getElementById("share-label").value.trim() || null,
      };
      await PC.api("/api/gallery/shares", { method: "POST", json: body });
      PC.toast("Ссылка создана: скопируйте её и отправьте гостям");
      document.getElementById("share-label").value = "";
      renderShares(await PC.api("/api/gallery/shares"));
    } catch (err) {
      PC.toast("Не удалось создать ссылку: " + err.message, "error");
    } finally {
      PC.busy(btn, false);
    }
  });

  load();
})();
