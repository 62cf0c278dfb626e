// Medical pages: while triage or a draft is being worked on, poll the encounter's status endpoint (states
// only, no clinical data) and reload the page when a state changes.
(function () {
  const root = document.querySelector("[data-live-status-url]");
  if (!root || root.dataset.busy !== "1") return;
  const url = root.dataset.liveStatusUrl;
  let last = null;
  async function poll() {
    try {
      const resp = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (resp.ok) {
        const state = await resp.json();
        const text = JSON.stringify(state);
        const busy = state.triage === "pending" ||
          state.drafts.some((d) => d.status === "generating" || d.status === "verifying");
        // the page was drawn while busy: reload on any change, or once nothing is busy any more
        if ((last !== null && text !== last) || !busy) { window.location.reload(); return; }
        last = text;
      }
    } catch (err) { /* try again */ }
    setTimeout(poll, 1000);
  }
  poll();
})();
