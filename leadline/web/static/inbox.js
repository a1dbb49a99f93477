// The Inbox's thread page: new messages arrive by server-sent events and are added to the
// thread; a refused form is shown with what was wrong; the snooze time is read in the
// browser's time zone. Without this script the page still works: a reload shows new messages.
(function () {
  "use strict";

  var source = null;
  var connectedTo = null;

  function lastSeq(list) {
    var items = list.querySelectorAll("li[data-seq]");
    return items.length ? items[items.length - 1].getAttribute("data-seq") : "0";
  }

  function say(text) {
    var state = document.getElementById("live-state");
    if (state) state.textContent = text;
  }

  function add(html) {
    var list = document.getElementById("thread");
    if (!list) return;
    var template = document.createElement("template");
    template.innerHTML = html.trim();
    var item = template.content.firstElementChild;
    if (!item || (item.id && document.getElementById(item.id))) return;
    list.appendChild(item);
    var empty = document.getElementById("thread-empty");
    if (empty) empty.remove();
  }

  // Connect to the conversation shown, from its last message; again whenever htmx puts a new
  // copy of the conversation in the page (it may hold messages the stream sent since).
  function connect() {
    var box = document.getElementById("conversation");
    if (box === connectedTo) return;
    if (source) source.close();
    source = null;
    connectedTo = box;
    if (!box || !window.EventSource) return;
    var url = box.getAttribute("data-events");
    var list = document.getElementById("thread");
    if (!url || !list) return;
    url = url.replace(/after=\d*/, "after=" + lastSeq(list));
    source = new EventSource(url);
    source.onmessage = function (event) {
      add(event.data);
    };
    source.onerror = function () {
      if (source && source.readyState === EventSource.CLOSED) {
        say("New messages no longer appear by themselves: reload the page to see them.");
      }
    };
  }

  // The snooze form's time is the browser's own: send its offset from UTC.
  function localTimes() {
    var offset = String(new Date().getTimezoneOffset());
    document.querySelectorAll(".inbox-offset").forEach(function (input) {
      input.value = offset;
    });
    var hint = document.getElementById("snooze-hint");
    if (hint && hint.textContent.indexOf("in UTC") >= 0) {
      hint.textContent = hint.textContent.replace("A time in UTC.", "A time in your time zone.");
    }
    var until = document.getElementById("snooze-until");
    var choice = document.getElementById("snooze-for");
    if (until && choice) {
      until.addEventListener("input", function () {
        if (until.value) choice.value = "custom";
      });
    }
  }

  document.body.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (xhr.status >= 400 && xhr.getResponseHeader("X-Inbox-Form") === "refused") {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.body.addEventListener("htmx:responseError", function () {
    var announce = document.getElementById("inbox-announce");
    if (announce) announce.textContent = "That did not work. Reload the page and try again.";
  });

  // Where the focus goes once a form's answer replaces the conversation (and with it the
  // form): back to the box written in, else to the heading of the conversation's actions.
  var refocus = null;
  document.body.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.detail.elt;
    var box = form && form.querySelector ? form.querySelector("textarea[id]") : null;
    refocus = box ? box.id : "actions-heading";
  });

  document.body.addEventListener("htmx:afterSettle", function () {
    connect();
    localTimes();
    var active = document.activeElement;
    if (refocus && (!active || active === document.body)) {
      var target = document.getElementById(refocus);
      if (target) target.focus();
    }
    refocus = null;
  });

  // Ctrl+Enter (or Cmd+Enter) in the reply or note box sends it.
  document.addEventListener("keydown", function (event) {
    var box = event.target;
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
    if (!box || box.tagName !== "TEXTAREA" || !box.form || !box.closest("#conversation")) return;
    event.preventDefault();
    box.form.requestSubmit();
  });

  window.addEventListener("pagehide", function () {
    if (source) source.close();
  });

  connect();
  localTimes();
})();
