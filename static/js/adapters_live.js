// Adapters page: while an evaluation on this page is pending or running, poll its state (adapters:eval-status)
// every 2 s and update the row in place; a finished evaluation is announced once in the status region.
(function () {
  const table = document.getElementById("adapters");
  if (!table || table.dataset.evaluating !== "1") return;
  const announce = document.querySelector('[data-testid="eval-announce"]');
  const rows = new Map();
  for (const row of table.querySelectorAll("tr[data-adapter-id]")) {
    const status = row.querySelector('[data-role="eval-status"]').textContent.trim();
    if (status === "pending" || status === "running") rows.set(row.dataset.adapterId, row);
  }
  async function poll() {
    if (!rows.size) return;
    const query = [...rows.keys()].map((id) => `id=${encodeURIComponent(id)}`).join("&");
    try {
      const resp = await fetch(`${table.dataset.statusUrl}?${query}`,
        { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (resp.ok) {
        const { versions } = await resp.json();
        for (const v of versions) {
          const row = rows.get(String(v.id));
          if (!row) continue;
          const badge = row.querySelector('[data-role="eval-status"]');
          if (badge.textContent.trim() === v.eval_status) continue;
          badge.textContent = v.eval_status;
          badge.className = `status status-${v.eval_status}`;
          row.querySelector('[data-role="domain-loss"]').textContent = v.domain_loss;
          row.querySelector('[data-role="general-loss"]').textContent = v.general_loss;
          const error = row.querySelector('[data-role="eval-error"]');
          if (v.eval_error) { error.hidden = false; error.textContent = v.eval_error; }
          if (v.eval_status === "done" || v.eval_status === "failed") {
            rows.delete(String(v.id));
            announce.textContent = `Evaluation of ${row.dataset.label} ${v.eval_status === "done" ? "finished" : "failed"}.`;
          }
        }
      }
    } catch (err) { /* try again */ }
    if (rows.size) setTimeout(poll, 2000);
  }
  setTimeout(poll, 1000);
})();
