// The screen pop: asks the console every second for the call ringing or answered for the
// logged-in agent (GET data-source, JSON) and shows the caller's number, the customers it
// matches and the call's own contact to complete. No inline script: the page's
// Content-Security-Policy allows only our own files. Everything is written with textContent,
// never as HTML, so nothing in a name can become markup. Without JavaScript the container stays
// hidden and "My calls" lists the same calls.
(function () {
  "use strict";
  var pop = document.getElementById("screen-pop");
  if (!pop || !window.fetch) {
    return;
  }
  var source = pop.getAttribute("data-source");
  // The words come from the page (data-text-*), already in the agent's language.
  function text(name) {
    return pop.getAttribute("data-text-" + name) || "";
  }
  var INTERVAL_MS = 1000;
  var shown = null; // what is on screen now, as JSON, so an unchanged answer redraws nothing
  var dismissed = null; // the call the agent closed; it stays closed
  var timer = null;

  function element(tag, text, className) {
    var node = document.createElement(tag);
    if (text) {
      node.textContent = text;
    }
    if (className) {
      node.className = className;
    }
    return node;
  }

  function link(href, text) {
    var anchor = element("a", text);
    anchor.href = href;
    return anchor;
  }

  function hide() {
    pop.hidden = true;
    pop.textContent = "";
    shown = null;
  }

  function draw(call, callsUrl) {
    pop.textContent = "";
    var heading = element("h2", call.state === "answered" ? text("answered") : text("ringing"));
    pop.appendChild(heading);
    var number = element("p", call.withheld ? text("withheld") : call.caller, "screen-pop-number");
    pop.appendChild(number);
    pop.appendChild(element("p", text("since").replace("%(time)s", call.since), "muted"));
    var list = element("ul", null, "screen-pop-customers");
    call.customers.forEach(function (customer) {
      var item = element("li");
      item.appendChild(link(customer.url, customer.name));
      if (customer.masked_identity_code) {
        item.appendChild(document.createTextNode(" "));
        item.appendChild(element("span", customer.masked_identity_code, "masked"));
      }
      if (!customer.linked) {
        item.appendChild(element("span", " " + text("number-matches"), "muted"));
      }
      list.appendChild(item);
    });
    if (call.customers.length) {
      pop.appendChild(list);
    } else if (!call.withheld) {
      pop.appendChild(element("p", text("no-customer"), "muted"));
    }
    var actions = element("p", null, "actions");
    var contact = link(call.contact_url, text("complete"));
    contact.className = "button";
    actions.appendChild(contact);
    actions.appendChild(document.createTextNode(" "));
    actions.appendChild(link(callsUrl, text("my-calls")));
    var close = element("button", text("close"), "secondary");
    close.type = "button";
    close.addEventListener("click", function () {
      dismissed = call.call_id;
      hide();
    });
    actions.appendChild(document.createTextNode(" "));
    actions.appendChild(close);
    pop.appendChild(actions);
    pop.hidden = false;
  }

  function show(answer) {
    var call = answer.call;
    if (!call || call.call_id === dismissed) {
      hide();
      return;
    }
    var key = JSON.stringify(call);
    if (key !== shown) {
      draw(call, answer.calls_url);
      shown = key;
    }
  }

  function stop() {
    window.clearInterval(timer);
    hide();
  }

  function poll() {
    if (document.visibilityState === "hidden") {
      return; // nothing to see; the next poll after the tab returns catches up
    }
    // A logged-out session answers with a redirect to the login page: stop asking.
    fetch(source, {
      credentials: "same-origin",
      redirect: "manual",
      headers: { Accept: "application/json" },
    })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (!response.ok || type.indexOf("application/json") !== 0) {
          stop();
          return null;
        }
        return response.json();
      })
      .then(function (answer) {
        if (answer) {
          show(answer);
        }
      })
      .catch(function () {
        // A network blip: keep what is shown and try again on the next tick.
      });
  }

  timer = window.setInterval(poll, INTERVAL_MS);
  poll();
})();
