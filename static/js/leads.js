/* Lead list: the "select all" checkbox for bulk moves. Without JS it stays hidden and
   each row's checkbox still works. Delegated, so rows swapped in by htmx need no rebinding. */
(function () {
  "use strict";

  function reveal(root) {
    root.querySelectorAll("[data-select-all]").forEach(function (box) {
      box.hidden = false;
    });
  }

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
    if (!(target instanceof HTMLInputElement) || !target.form) {
      return;
    }
    if (target.matches("[data-select-all]")) {
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
  });
})();
