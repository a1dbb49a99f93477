// The Analytics page: a section that could not be loaded says so in place of "Loading", and
// stops being busy (htmx leaves error answers out, which would leave it loading for ever).
(function () {
  "use strict";

  function failed(event) {
    var elt = event.detail.elt;
    if (!elt || !elt.matches || !elt.matches("section[data-section][aria-busy]")) return;
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    var words = status === 403 ? "Your analytics pages do not include this section."
      : status === 400 || status === 404 ? "This question cannot be answered: check the form above."
      : "This section could not be loaded. Reload the page to try again.";
    var said = elt.querySelector("[data-loading]");
    if (said) {
      said.textContent = words;
      said.setAttribute("role", "alert");
    }
    elt.setAttribute("aria-busy", "false");
    elt.classList.remove("loading");
  }

  document.addEventListener("htmx:responseError", failed);
  document.addEventListener("htmx:sendError", failed);
})();
