// The handover queue refreshes itself: every few seconds it asks the console for the queue's
// table (GET data-source, an HTML fragment behind login) and swaps it in when the rows'
// digest (data-state) changed. No inline script: the page's Content-Security-Policy allows only
// our own files. It pauses while the tab is hidden and while focus is inside the table (someone
// choosing an agent must not lose the list under their hand). Without JavaScript, the page's
// "Reload" link shows the same table.
(function () {
  "use strict";
  var holder = document.getElementById("handover-table");
  if (!holder || !window.fetch || !window.DOMParser) {
    return;
  }
  var source = holder.getAttribute("data-source");
  var INTERVAL_MS = 5000;
  var timer = null;
  var asking = false;

  function currentState() {
    var rows = document.getElementById("handover-rows");
    return rows ? rows.getAttribute("data-state") : null;
  }

  function swapIn(html) {
    // Parsed into a detached document: nothing in it runs, and only our own markup (rendered
    // and escaped by the server's templates) is moved into the page.
    var parsed = new DOMParser().parseFromString(html, "text/html");
    var rows = parsed.getElementById("handover-rows");
    if (!rows || rows.getAttribute("data-state") === currentState()) {
      return;
    }
    holder.textContent = "";
    holder.appendChild(document.importNode(rows, true));
  }

  function stop() {
    window.clearInterval(timer);
  }

  function poll() {
    if (asking || document.visibilityState === "hidden") {
      return; // the next tick after the tab returns catches up
    }
    if (holder.contains(document.activeElement)) {
      return;
    }
    asking = true;
    // A logged-out session answers with a redirect to the login page: stop asking.
    fetch(source, {
      credentials: "same-origin",
      redirect: "manual",
      headers: { Accept: "text/html" },
    })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (!response.ok || type.indexOf("text/html") !== 0) {
          stop();
          return null;
        }
        return response.text();
      })
      .then(function (html) {
        if (html) {
          swapIn(html);
        }
      })
      .catch(function () {
        // A network blip: keep the table shown and try again on the next tick.
      })
      .then(function () {
        asking = false;
      });
  }

  timer = window.setInterval(poll, INTERVAL_MS);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") {
      poll();
    }
  });
})();
