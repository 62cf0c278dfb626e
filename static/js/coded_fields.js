// Draft edit page: "Add a row" for the diagnosis and medication formsets, and an ICD-10-CM combobox on every
// code field (ARIA 1.2 combobox + listbox): typing searches medical:icd-search, arrows move, Enter or a click
// picks (code and description filled), Escape closes. Without script the fields are plain text inputs.
(function () {
  const url = document.getElementById("coded-fields-script").dataset.icdUrl;
  const announce = document.querySelector('[data-testid="icd-announce"]');

  for (const fieldset of document.querySelectorAll("[data-formset]")) {
    const prefix = fieldset.dataset.formset;
    const total = fieldset.querySelector(`input[name="${prefix}-TOTAL_FORMS"]`);
    const rows = fieldset.querySelector("[data-rows]");
    const template = fieldset.querySelector("template[data-empty-row]");
    const add = fieldset.querySelector("[data-add-row]");
    add.hidden = false;
    add.addEventListener("click", () => {
      const index = Number(total.value);
      const html = template.innerHTML.replaceAll("__prefix__", String(index));
      rows.insertAdjacentHTML("beforeend", html);
      total.value = String(index + 1);
      const row = rows.lastElementChild;
      row.querySelectorAll("[data-icd-search]").forEach(combobox);
      const first = row.querySelector("input:not([type=hidden]), select");
      if (first) first.focus();
    });
  }

  let counter = 0;
  function combobox(input) {
    const row = input.closest("[data-row]");
    const description = row.querySelector('input[name$="-description"]');
    const list = document.createElement("ul");
    list.id = `icd-list-${++counter}`;
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-label", "Matching ICD-10-CM codes");
    list.hidden = true;
    input.after(list);
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", list.id);
    let results = [], active = -1, timer = null, seq = 0;

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }
    function highlight(i) {
      active = i;
      list.querySelectorAll("[role=option]").forEach((li, j) => li.setAttribute("aria-selected", String(j === i)));
      if (i >= 0) {
        const li = list.children[i];
        input.setAttribute("aria-activedescendant", li.id);
        li.scrollIntoView({ block: "nearest" });
      } else input.removeAttribute("aria-activedescendant");
    }
    function pick(i) {
      const hit = results[i];
      if (!hit) return;
      input.value = hit.code;
      if (description) description.value = hit.description;
      close();
      announce.textContent = `${hit.code} ${hit.description} chosen.`;
    }
    function show(hits) {
      results = hits;
      list.replaceChildren(...hits.map((h, i) => {
        const li = document.createElement("li");
        li.id = `${list.id}-${i}`;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        li.dataset.code = h.code;
        const strong = document.createElement("strong");
        strong.textContent = h.code;
        li.append(strong, ` ${h.description}`);
        if (!h.billable) li.append(" (not billable: has subcodes)");
        li.addEventListener("mousedown", (e) => { e.preventDefault(); pick(i); });
        return li;
      }));
      const open = hits.length > 0;
      list.hidden = !open;
      input.setAttribute("aria-expanded", String(open));
      active = -1;
      announce.textContent = open ? `${hits.length} code${hits.length === 1 ? "" : "s"} found.` : "No code found.";
    }
    async function search() {
      const q = input.value.trim();
      const mine = ++seq;
      if (q.length < 2) { close(); return; }
      try {
        const resp = await fetch(`${url}?q=${encodeURIComponent(q)}`,
          { credentials: "same-origin", headers: { Accept: "application/json" } });
        if (!resp.ok || mine !== seq) return;
        show((await resp.json()).results);
      } catch (err) { /* leave the field as typed */ }
    }
    input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(search, 200); });
    input.addEventListener("keydown", (e) => {
      if (list.hidden) { if (e.key === "ArrowDown") search(); return; }
      if (e.key === "ArrowDown") { e.preventDefault(); highlight(Math.min(active + 1, results.length - 1)); }
      else if (e.key === "ArrowUp") { e.preventDefault(); highlight(Math.max(active - 1, 0)); }
      else if (e.key === "Enter" && active >= 0) { e.preventDefault(); pick(active); }
      else if (e.key === "Escape") { e.preventDefault(); close(); }
    });
    input.addEventListener("blur", () => setTimeout(close, 100));
  }
  document.querySelectorAll("[data-icd-search]").forEach(combobox);
})();
