// Live job page: polls the job's API endpoint (session auth) and shows tokens as they are generated.
(function () {
  const root = document.getElementById("job");
  if (!root || root.dataset.terminal === "1") return;
  const url = root.dataset.apiUrl;
  const $ = (id) => root.querySelector(`[data-testid="${id}"]`);
  const terminal = new Set(["succeeded", "failed", "cancelled"]);

  async function poll() {
    let job;
    try {
      const resp = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!resp.ok) throw new Error(resp.status);
      job = await resp.json();
    } catch (err) {
      setTimeout(poll, 2000);
      return;
    }
    const status = $("job-status");
    status.textContent = job.status;
    status.className = `status status-${job.status}`;
    $("job-output").textContent = job.output;
    $("job-tokens").textContent = job.completion_tokens;
    $("job-attempts").textContent = job.attempts;
    if (job.error) { const e = $("job-error"); e.textContent = job.error; e.hidden = false; }
    if (terminal.has(job.status)) {
      const form = document.getElementById("cancel-form");
      if (form) form.remove();
      return;
    }
    setTimeout(poll, 300);
  }
  poll();
})();
