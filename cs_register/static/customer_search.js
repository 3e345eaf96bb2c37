// Search as you type on the customer search page: a progressive enhancement of the ordinary
// form (POST, then the results page named by a token). After a pause in typing, the form is
// sent as it would be on Enter; the results section of the page that comes back replaces the
// one shown, and the address becomes the results page's, so Back and reload keep working.
// No inline script: the Content-Security-Policy allows only our own files.
(function () {
  "use strict";
  var form = document.querySelector("form[data-live-search]");
  var input = form && form.querySelector("#value");
  if (!form || !input || !window.fetch || !window.DOMParser) {
    return;
  }
  var PAUSE_MS = 400;
  var MIN_LENGTH = 3;
  var timer = null;
  var latest = 0;

  function replaceResults(html, url) {
    var page = new DOMParser().parseFromString(html, "text/html");
    var fresh = page.getElementById("search-results");
    var shown = document.getElementById("search-results");
    if (!shown) {
      return;
    }
    shown.innerHTML = fresh ? fresh.innerHTML : "";
    shown.hidden = !fresh || fresh.hidden;
    if (url) {
      window.history.replaceState(null, "", url);
    }
  }

  function search() {
    var value = input.value.trim();
    if (value.length < MIN_LENGTH) {
      return;
    }
    var mine = ++latest;
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      redirect: "follow",
    })
      .then(function (response) {
        // A refused search (422) shows its message in the form's own place on Enter; while
        // typing, half a phone number is not an error worth shouting about.
        if (!response.ok || response.redirected === false) {
          return null;
        }
        return response.text().then(function (html) {
          return { html: html, url: response.url };
        });
      })
      .then(function (answer) {
        if (answer && mine === latest) {
          replaceResults(answer.html, answer.url);
        }
      })
      .catch(function () {
        // The form still works the ordinary way.
      });
  }

  input.addEventListener("input", function (event) {
    if (event.isComposing) {
      return;
    }
    window.clearTimeout(timer);
    timer = window.setTimeout(search, PAUSE_MS);
  });
})();
