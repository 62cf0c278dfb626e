// Confirmation for irreversible actions: a form with data-confirm="what happens" opens the page's <dialog>
// (templates/base.html) instead of posting; "Confirm" posts it (with the button that was pressed), "Keep as is"
// or Escape closes the dialog and gives focus back to that button. Focus starts on the safe choice.
// data-confirm-title and data-confirm-action (the confirm button's text) are optional.
(function () {
  const dialog = document.getElementById("confirm-dialog");
  if (!dialog || typeof dialog.showModal !== "function") return; // no <dialog>: forms post without asking
  const title = dialog.querySelector("#confirm-title");
  const text = dialog.querySelector("#confirm-text");
  const ok = dialog.querySelector('[value="confirm"]');
  const cancel = dialog.querySelector('[value="cancel"]');
  let pending = null; // {form, submitter}

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.confirm) return;
    if (form.dataset.confirmed === "1") { delete form.dataset.confirmed; return; }
    event.preventDefault();
    pending = { form, submitter: event.submitter || null };
    title.textContent = form.dataset.confirmTitle || "Are you sure?";
    text.textContent = form.dataset.confirm;
    ok.textContent = form.dataset.confirmAction || "Confirm";
    ok.classList.toggle("danger", form.dataset.confirmDanger === "1");
    dialog.returnValue = "";
    dialog.showModal();
    cancel.focus();
  });

  dialog.addEventListener("close", () => {
    const current = pending;
    pending = null;
    if (!current) return;
    if (dialog.returnValue === "confirm") {
      current.form.dataset.confirmed = "1";
      if (typeof current.form.requestSubmit === "function") current.form.requestSubmit(current.submitter);
      else current.form.submit();
    } else if (current.submitter) {
      current.submitter.focus();
    }
  });
})();
