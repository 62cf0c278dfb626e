// Live job page: polls the job's API endpoint (session auth) and shows tokens as they are generated.
// The status (a live region) is written only when it changes; the elapsed wait ticks outside it.
(function () {
  const root = document.getElementById("job");
  if (!root || root.dataset.terminal === "1") return;
  const url = root.dataset.apiUrl;
  const created = Date.parse(root.dataset.createdAt);
  const $ = (id) => root.querySelector(`[data-testid="${id}"]`);
  const terminal = new Set(["succeeded", "failed", "cancelled"]);
  let shownStatus = $("job-status").textContent.trim();

  function elapsed() {
    const s = Math.max(0, Math.round((Date.now() - created) / 1000));
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    return m < 60 ? `${m} min ${s % 60} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
  }
  const ticker = setInterval(() => {
    if (shownStatus === "queued" && !Number.isNaN(created)) $("job-elapsed").textContent = elapsed();
  }, 1000);

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
    if (job.status !== shownStatus) {
      shownStatus = job.status;
      const status = $("job-status");
      status.textContent = job.status;
      status.className = `status status-${job.status}`;
      $("job-waiting").hidden = job.status !== "queued";
      $("job-elapsed-line").hidden = job.status !== "queued";
    }
    // A medical job's text is not on the page (withheld, or kept with the encounter): only its state and counts.
    const output = $("job-output");
    if (output && output.textContent !== job.output) output.textContent = job.output;
    $("job-tokens").textContent = job.completion_tokens;
    $("job-attempts").textContent = job.attempts;
    const error = $("job-error");
    if (error && job.error) { error.textContent = job.error; error.hidden = false; }
    if (terminal.has(job.status)) {
      clearInterval(ticker);
      const form = document.getElementById("cancel-form");
      if (form) form.remove();
      return;
    }
    setTimeout(poll, 300);
  }
  poll();
})();
