// A form that changes data is sent once: after the first submit its buttons are
// disabled and further submits are ignored until the answer arrives (htmx) or
// the page is shown again (back button). The server refuses a second send of
// the same form token anyway (crm_site/submissions.py); this spares the click.
(function () {
  "use strict";

  function changesData(form) {
    if (form.hasAttribute("data-submit-repeat")) return false;
    return form.method === "post" || form.hasAttribute("hx-post");
  }

  function buttons(form) {
    return form.querySelectorAll(
      "button:not([type]), button[type=submit], input[type=submit]"
    );
  }

  function release(form) {
    delete form.dataset.submitting;
    buttons(form).forEach(function (button) {
      if (button.dataset.submitOnceDisabled) {
        button.disabled = false;
        delete button.dataset.submitOnceDisabled;
      }
    });
  }

  // Capture phase: runs before htmx's own listener on the form.
  document.addEventListener(
    "submit",
    function (event) {
      var form = event.target;
      if (!(form instanceof HTMLFormElement) || !changesData(form)) return;
      if (form.dataset.submitting) {
        event.preventDefault();
        event.stopPropagation();
        return;
      }
      form.dataset.submitting = "1";
      // Disable after the browser has read the clicked button's name and value.
      window.setTimeout(function () {
        buttons(form).forEach(function (button) {
          if (!button.disabled) {
            button.disabled = true;
            button.dataset.submitOnceDisabled = "1";
          }
        });
      }, 0);
    },
    true
  );

  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.target.closest ? event.target.closest("form") : null;
    if (form) release(form);
  });

  window.addEventListener("pageshow", function (event) {
    if (event.persisted) document.querySelectorAll("form").forEach(release);
  });
})();
