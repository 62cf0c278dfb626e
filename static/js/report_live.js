// Live report page: while the report is generating, poll its API (session auth) and show each section's
// status and the text streamed so far; when generation ends, reload once to show the grounded draft.
(function () {
  const root = document.getElementById("report");
  if (!root || root.dataset.status !== "generating") return;
  const url = root.dataset.apiUrl;

  function sectionEl(kind) { return document.querySelector(`.report-section[data-kind="${kind}"]`); }

  async function poll() {
    let report;
    try {
      const resp = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!resp.ok) throw new Error(resp.status);
      report = await resp.json();
    } catch (err) {
      setTimeout(poll, 2000);
      return;
    }
    const status = root.querySelector('[data-testid="report-status"]');
    status.textContent = report.status;
    status.className = `status status-${report.status}`;
    for (const s of report.sections) {
      const el = sectionEl(s.kind);
      if (!el) continue;
      const st = el.querySelector('[data-role="section-status"]');
      st.textContent = s.status;
      st.className = `status status-${s.status}`;
      const text = el.querySelector('[data-role="section-text"]');
      const shown = s.status === "generating" ? s.live_text : s.text;
      if (shown && text.textContent !== shown) text.textContent = shown;
    }
    if (report.status !== "generating") { window.location.reload(); return; }
    setTimeout(poll, 400);
  }
  poll();
})();
