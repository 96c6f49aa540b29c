/* Inbound panel: the "Copy URL" button beside a URL shown once. Without JS (or without
   the clipboard API) it stays hidden and the URL stays selectable. Delegated, so a panel
   swapped in by htmx needs no rebinding. */
(function () {
  "use strict";

  function reveal(root) {
    if (!navigator.clipboard) {
      return;
    }
    root.querySelectorAll("[data-copy]").forEach(function (button) {
      button.hidden = false;
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest("[data-copy]") : null;
    if (!button) {
      return;
    }
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) {
      return;
    }
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      button.textContent = button.getAttribute("data-copied");
    });
  });

  document.addEventListener("DOMContentLoaded", function () {
    reveal(document);
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    reveal(event.target);
  });
})();
