// The Leads pages: a refused filter or status change is shown in place of what it would have
// replaced (htmx leaves error answers out by default), a status change is announced to screen
// readers, and the focus stays in the row that changed.
(function () {
  "use strict";

  function announce(text) {
    var region = document.getElementById("leads-announce");
    if (!region) return;
    // Emptied first, so the same words twice are announced twice.
    region.textContent = "";
    window.setTimeout(function () { region.textContent = text; }, 50);
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    if (detail.xhr.status === 400 && detail.elt.closest("[data-leads]")) {
      detail.shouldSwap = true;
      detail.isError = false;
    }
  });

  document.addEventListener("htmx:responseError", function (event) {
    if (!event.detail.elt.closest("[data-leads]")) return;
    var status = event.detail.xhr.status;
    var words = status === 403 ? "That is not allowed, or the page has expired: reload it."
      : status === 404 ? "That lead is not there any more."
      : "That did not work. Nothing was changed.";
    announce(words);
  });

  document.addEventListener("leadChanged", function (event) {
    var detail = event.detail || {};
    announce(detail.message || "");
    var row = detail.row && document.getElementById(detail.row);
    if (!row) return;
    var next = row.querySelector(".actions button, .actions summary") || row.querySelector("a");
    if (next) next.focus();
  });

  // After new results are swapped in, what they hold is read out: how many leads, or why the
  // filters were refused.
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.target;
    if (!target || target.id !== "leads-results") return;
    var said = target.querySelector("[role=alert], .count, h2");
    if (said) announce(said.textContent.replace(/\s+/g, " ").trim());
  });

  document.addEventListener("DOMContentLoaded", function () {
    var notice = document.querySelector("[data-focus-on-load]");
    if (notice) notice.focus();
  });
})();
