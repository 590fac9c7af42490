// High-impact actions ask first (crm_site/confirm.py). A form, or the submit button
// that sends it, names a <dialog> with data-confirm-dialog="<id>"
// (templates/components/_confirm.html): submitting opens the dialog instead; its
// confirm button sends the form again with confirmed=1, its other button or Escape
// sends nothing. Without this script the server answers the POST with a
// confirmation page of its own, so the action is never done unasked.
(function () {
  "use strict";

  var pending = null;

  function dialogFor(form, submitter) {
    var id =
      (submitter && submitter.getAttribute("data-confirm-dialog")) ||
      form.getAttribute("data-confirm-dialog");
    var dialog = id ? document.getElementById(id) : null;
    return dialog && typeof dialog.showModal === "function" ? dialog : null;
  }

  // On window, in the capture phase: before submit_once.js (document) marks the
  // form as sent and before htmx sees the submit.
  window.addEventListener(
    "submit",
    function (event) {
      var form = event.target;
      if (!(form instanceof HTMLFormElement) || form.dataset.confirmSending) return;
      var dialog = dialogFor(form, event.submitter);
      if (!dialog) return;
      event.preventDefault();
      event.stopImmediatePropagation();
      pending = { form: form, submitter: event.submitter || null, dialog: dialog };
      dialog.returnValue = "";
      dialog.showModal();
    },
    true
  );

  // "close" does not bubble; a capturing listener still hears it.
  document.addEventListener(
    "close",
    function (event) {
      if (!pending || pending.dialog !== event.target) return;
      var job = pending;
      pending = null;
      if (job.dialog.returnValue !== "confirm") return;
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = "confirmed";
      input.value = "1";
      job.form.appendChild(input);
      job.form.dataset.confirmSending = "1";
      try {
        // The form's fields are read during requestSubmit: the input may go after.
        if (job.submitter) job.form.requestSubmit(job.submitter);
        else job.form.requestSubmit();
      } finally {
        delete job.form.dataset.confirmSending;
        input.remove();
      }
    },
    true
  );
})();
