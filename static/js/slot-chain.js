/* Slot page: the retry policy of the slot's provider and its fallback chain.
 * Data: the chain fields of GET|PUT /api/slots/{id} (retry, time_share, fallbacks).
 * Each fallback step's settings form comes from its driver's JSON schema, as the main one. */
(function () {
  "use strict";

  const MAX_STEPS = 4;

  /** Number fields of a step's policy: [key, label, attributes, hint]. */
  const POLICY = [
    ["retry.attempts", "Попыток", { min: 1, max: 10, step: "1" }, "Пусто — пока хватает времени"],
    ["retry.backoff_seconds", "Пауза между попытками, с", { min: 0, max: 30, step: "any" },
      "Удваивается после каждой попытки; пусто — 0,3 / 0,8 / 1,5 / 2,5 с"],
    ["time_share", "Доля оставшегося времени", { min: 0.1, max: 0.9, step: "0.05" },
      "Сколько из оставшегося времени получает шаг, если после него есть ещё; пусто — 0,6"],
  ];

  function policyValue(source, key) {
    const [head, tail] = key.split(".");
    const v = tail ? (source[head] || {})[tail] : source[head];
    return v === null || v === undefined ? "" : String(v);
  }

  /** Reads the policy inputs under ``box``; [{retry, time_share}, problems] with ``prefix``ed keys. */
  function readPolicy(box, prefix) {
    const out = { retry: { attempts: null, backoff_seconds: null }, time_share: null };
    const problems = {};
    for (const [key, , attrs] of POLICY) {
      const input = box.querySelector('[data-policy="' + key + '"]');
      const raw = input.value.trim().replace(",", ".");
      if (!raw) continue;
      const num = Number(raw);
      const field = prefix + key;
      if (!Number.isFinite(num) || (attrs.step === "1" && !Number.isInteger(num))) {
        problems[field] = attrs.step === "1" ? "Нужно целое число" : "Нужно число";
      } else if (num < attrs.min) problems[field] = "Не меньше " + attrs.min;
      else if (num > attrs.max) problems[field] = "Не больше " + attrs.max;
      const [head, tail] = key.split(".");
      if (tail) out[head][tail] = num;
      else out[head] = num;
    }
    return [out, problems];
  }

  /** The policy inputs for ``source`` (a slot or a step), named ``prefix`` + key for server errors. */
  function policyFields(el, source, prefix, idPrefix) {
    const grid = el("div", { class: "fields-grid chain-policy" });
    for (const [key, label, attrs, hint] of POLICY) {
      const id = idPrefix + key.replace(/[^a-z]+/g, "-");
      const input = el("input", {
        class: "input", id, type: "number", inputmode: "decimal", min: attrs.min, max: attrs.max, step: attrs.step,
        "data-policy": key,
      });
      input.value = policyValue(source, key);
      grid.append(el("div", { class: "field", "data-field": prefix + key }, [
        el("label", { class: "field__label", for: id, text: label }),
        input,
        el("span", { class: "field__error", role: "alert" }),
        el("span", { class: "hint", text: hint }),
      ]));
    }
    return grid;
  }

  /**
   * The chain editor. ``ui`` gives what the slot page already has: ``el``, ``providers()``,
   * ``schemaOf(provider, operation)``, ``buildField``, ``collectFields``, ``order(name, prop)``
   * (the fields' order on the page) and ``changed()`` (marks the form dirty).
   */
  window.SlotChain = function (ui) {
    const el = ui.el;
    const own = document.getElementById("chain-own-policy");
    const list = document.getElementById("chain-steps");
    const addBtn = document.getElementById("chain-add");
    const empty = document.getElementById("chain-empty");
    let steps = [];

    function firstOperation(provider) {
      return Object.keys((ui.providers()[provider] || {}).operations || {})[0] || "";
    }

    function stepCard(step, i) {
      const prefix = "fallbacks[" + i + "]";
      const idp = "fb" + i + "-";
      const provider = el("select", { class: "select", id: idp + "provider", "data-role": "provider" });
      for (const [name, p] of Object.entries(ui.providers())) {
        provider.append(el("option", { value: name, text: p.title || name }));
      }
      provider.value = step.provider;
      const operation = el("select", { class: "select", id: idp + "operation", "data-role": "operation" });
      for (const [op, label] of Object.entries((ui.providers()[step.provider] || {}).operations || {})) {
        operation.append(el("option", { value: op, text: label }));
      }
      operation.value = step.operation;
      const schema = ui.schemaOf(step.provider, step.operation);
      const props = schema.properties || {};
      const required = new Set(schema.required || []);
      const secret = new Set((ui.providers()[step.provider] || {}).secret_fields || []);
      const fields = el("div", { class: "fields-grid", "data-role": "settings" });
      const names = Object.keys(props).sort((a, b) => ui.order(a, props[a]) - ui.order(b, props[b]));
      for (const name of names) {
        fields.append(ui.buildField(name, props[name], required.has(name), secret.has(name),
          (step.settings || {})[name], prefix + ".settings"));
      }
      const button = (role, text, label, disabled) =>
        el("button", { class: "btn btn--sm", type: "button", "data-action": role, "aria-label": label, text, disabled });
      return el("div", { class: "chain-step", "data-step": String(i) }, [
        el("div", { class: "chain-step__head" }, [
          el("b", { text: "Шаг " + (i + 2) + ": запасной" }),
          el("div", { class: "row" }, [
            button("up", "↑ Выше", "Переместить шаг " + (i + 2) + " выше", i === 0),
            button("down", "↓ Ниже", "Переместить шаг " + (i + 2) + " ниже", i === steps.length - 1),
            button("remove", "Удалить", "Удалить шаг " + (i + 2)),
          ]),
        ]),
        el("div", { class: "fields-grid" }, [
          el("div", { class: "field", "data-field": prefix + ".provider" }, [
            el("label", { class: "field__label", for: provider.id, text: "Провайдер" }), provider,
            el("span", { class: "field__error", role: "alert" }),
          ]),
          el("div", { class: "field", "data-field": prefix + ".operation" }, [
            el("label", { class: "field__label", for: operation.id, text: "Операция" }), operation,
            el("span", { class: "field__error", role: "alert" }),
          ]),
        ]),
        fields,
        policyFields(el, step, prefix + ".", idp),
      ]);
    }

    function render() {
      list.replaceChildren(...steps.map(stepCard));
      empty.hidden = steps.length > 0;
      addBtn.disabled = steps.length >= MAX_STEPS;
    }

    /** Steps as the form shows them now; [steps, problems]. */
    function read() {
      const out = [];
      const problems = {};
      list.querySelectorAll(".chain-step").forEach((card, i) => {
        const provider = card.querySelector('[data-role="provider"]').value;
        const operation = card.querySelector('[data-role="operation"]').value;
        const prefix = "fallbacks[" + i + "]";
        const [settings, p1] = ui.collectFields(
          card.querySelector('[data-role="settings"]'), ui.schemaOf(provider, operation), prefix + ".settings");
        const [policy, p2] = readPolicy(card, prefix + ".");
        Object.assign(problems, p1, p2);
        out.push({ provider, operation, settings, retry: policy.retry, time_share: policy.time_share });
      });
      return [out, problems];
    }

    list.addEventListener("change", (ev) => {
      const role = ev.target.dataset.role;
      if (role !== "provider" && role !== "operation") return;
      const card = ev.target.closest(".chain-step");
      const i = Number(card.dataset.step);
      steps = read()[0];
      if (role === "provider") steps[i].operation = firstOperation(steps[i].provider);
      render();
    });
    list.addEventListener("click", (ev) => {
      const btn = ev.target.closest("[data-action]");
      if (!btn) return;
      const i = Number(btn.closest(".chain-step").dataset.step);
      steps = read()[0];
      const action = btn.dataset.action;
      if (action === "remove") steps.splice(i, 1);
      const j = action === "up" ? i - 1 : action === "down" ? i + 1 : -1;
      if (j >= 0 && j < steps.length) [steps[i], steps[j]] = [steps[j], steps[i]];
      render();
      ui.changed();
      const focus = list.querySelector('[data-step="' + Math.max(0, Math.min(j >= 0 ? j : i, steps.length - 1)) + '"] [data-action]');
      if (focus) focus.focus();
    });
    addBtn.addEventListener("click", () => {
      steps = read()[0];
      const provider = ui.providers().local ? "local" : Object.keys(ui.providers())[0];
      steps.push({ provider, operation: firstOperation(provider), settings: {}, retry: {}, time_share: null });
      render();
      ui.changed();
      const added = list.querySelector('[data-step="' + (steps.length - 1) + '"] [data-role="provider"]');
      if (added) added.focus();
    });

    return {
      /** Shows the slot's chain. */
      load(slot) {
        own.replaceChildren(policyFields(el, slot, "", "own-"));
        steps = (slot.fallbacks || []).map((s) => Object.assign({}, s));
        render();
      },
      /** The chain fields of a PUT body; [fields, problems]. */
      collect() {
        const [policy, p1] = readPolicy(own, "");
        const [fallbacks, p2] = read();
        return [{ retry: policy.retry, time_share: policy.time_share, fallbacks }, Object.assign(p1, p2)];
      },
    };
  };
})();
