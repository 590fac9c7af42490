// Page behaviours declared with data- attributes, so templates carry no inline script
// or on*= handler (the Content Security Policy allows scripts from our static files only).
//   data-autosubmit        on a field: submit its form when its value changes
//   data-confirm="text"    on a submit button or link: ask first, stop when declined
//   data-print             on a button: open the print dialog
//   data-checked-live      on a field the page judges as it is typed (the walk-in phone
//                          field's hint): editing it clears the refusal of the old text
//   data-enter-saves       on a form: Enter saves from any field, a closed select list
//                          included (browsers submit on Enter from text fields only)
(function () {
  "use strict";
  document.addEventListener("keydown", function (event) {
    var field = event.target;
    if (event.key !== "Enter" || event.isComposing || !field.matches) {
      return;
    }
    if (field.matches("select") && field.form && field.form.matches("[data-enter-saves]")) {
      event.preventDefault();
      field.form.requestSubmit();
    }
  });
  document.addEventListener("input", function (event) {
    var field = event.target;
    if (field.matches && field.matches("[data-checked-live].is-invalid")) {
      // Bootstrap hides the .invalid-feedback next to a field no longer .is-invalid.
      field.classList.remove("is-invalid");
      field.removeAttribute("aria-invalid");
    }
  });
  document.addEventListener("change", function (event) {
    var field = event.target;
    if (field.matches && field.matches("[data-autosubmit]") && field.form) {
      if (field.form.requestSubmit) {
        field.form.requestSubmit();
      } else {
        field.form.submit();
      }
    }
  });
  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target.closest("[data-confirm], [data-print]") : null;
    if (!target) {
      return;
    }
    if (target.hasAttribute("data-print")) {
      event.preventDefault();
      window.print();
      return;
    }
    if (!window.confirm(target.getAttribute("data-confirm"))) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);
})();
