// The rules editor's "Add a rule": clone the formset's empty row. No inline handlers (CSP).
(function () {
  "use strict";

  function addRule(form) {
    var total = form.querySelector("input[name$='-TOTAL_FORMS']");
    var template = document.getElementById("rule-template");
    var body = document.getElementById("rules-body");
    if (!total || !template || !body) {
      return;
    }
    var index = parseInt(total.value, 10);
    var html = template.innerHTML.replace(/__prefix__/g, String(index));
    body.insertAdjacentHTML("beforeend", html);
    total.value = String(index + 1);
    var first = body.lastElementChild && body.lastElementChild.querySelector("input[type='text']");
    if (first) {
      first.focus();
    }
  }

  function init() {
    var form = document.getElementById("scoring-form");
    var button = document.getElementById("add-rule");
    if (!form || !button || button.dataset.ready) {
      return;
    }
    button.dataset.ready = "1";
    button.hidden = false;
    button.addEventListener("click", function () {
      addRule(form);
    });
  }

  document.addEventListener("DOMContentLoaded", init);
  // The preview may swap the whole editor back in (when the rules have errors).
  document.addEventListener("htmx:afterSwap", init);
})();
