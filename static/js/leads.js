/* Lead list: the "select all" checkbox for bulk moves. Without JS it stays hidden and
   each row's checkbox still works. Rows per page and the column chooser belong to the
   filter form (their `form` attribute): a change submits it at once, and their "Show
   these columns" button is for pages without JS. Delegated, so rows swapped in by htmx
   need no rebinding. */
(function () {
  "use strict";

  function reveal(root) {
    root.querySelectorAll("[data-select-all]").forEach(function (box) {
      box.hidden = false;
    });
    root.querySelectorAll("[data-no-js-apply]").forEach(function (button) {
      button.hidden = true;
    });
  }

  var reopenChooser = false;

  function rowsOf(form) {
    return Array.prototype.slice.call(form.querySelectorAll("[data-lead-checkbox]"));
  }

  function syncHeader(form) {
    var header = form.querySelector("[data-select-all]");
    if (!header) {
      return;
    }
    var rows = rowsOf(form);
    var ticked = rows.filter(function (box) { return box.checked; }).length;
    header.checked = rows.length > 0 && ticked === rows.length;
    header.indeterminate = ticked > 0 && ticked < rows.length;
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    var isField = target instanceof HTMLInputElement || target instanceof HTMLSelectElement;
    if (!isField || !target.form) {
      return;
    }
    if (target.matches("[data-list-option]")) {
      // The chooser is swapped with the results: open it again, to pick several columns.
      reopenChooser = target.name === "col";
      target.form.requestSubmit();
    } else if (target.matches("[data-select-all]")) {
      rowsOf(target.form).forEach(function (box) { box.checked = target.checked; });
    } else if (target.matches("[data-lead-checkbox]")) {
      syncHeader(target.form);
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    reveal(document);
    document.querySelectorAll("form").forEach(syncHeader);
  });
  document.addEventListener("htmx:afterSettle", function () {
    reveal(document);
    var chooser = document.querySelector(".column-chooser");
    if (reopenChooser && chooser) {
      chooser.open = true;
      reopenChooser = false;
    }
  });
})();
