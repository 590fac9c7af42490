// The buyer's phone on opening day (templates/portal/opening_*.html). The page
// listens to its session's events (sales.views_portal_opening.opening_live, the
// session's crm_site.live topic) and keeps the grid current without polling:
// "sold" greys a unit out, "released" puts it back on sale, "closed" reloads. Cells
// follow the contract markup shared with the staff screens: [data-unit-id] with
// data-status and the class unit-<status>; each event is also dispatched on document
// as "opening:<name>". EventSource reconnects by itself with the last event id, and
// the server replays what it missed.
(function () {
  "use strict";
  var root = document.querySelector("[data-live-url]");

  // A countdown to the buyer's slot (or T0): the page reloads when it is reached,
  // so the grid opens for choosing.
  var countdown = document.querySelector("[data-countdown-to]");
  if (countdown) {
    var target = Date.parse(countdown.getAttribute("data-countdown-to"));
    var tick = function () {
      var left = Math.max(0, Math.round((target - Date.now()) / 1000));
      var h = Math.floor(left / 3600);
      var m = Math.floor((left % 3600) / 60);
      var s = left % 60;
      countdown.textContent =
        (h ? h + ":" : "") + (m < 10 ? "0" : "") + m + ":" + (s < 10 ? "0" : "") + s;
      if (left === 0) {
        window.clearInterval(timer);
        window.setTimeout(function () { window.location.reload(); }, 500);
      }
    };
    var timer = window.setInterval(tick, 1000);
    tick();
  }

  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  // The confirm form asks for its answer as data: a lost race is then told in a few
  // kilobytes at most (the unit says it was just sold, the button goes off, "back to the
  // units" outlines it) instead of a reload of the whole grid in the middle of the
  // rush. Any other answer, or no answer, falls back to the plain form post.
  var confirmForm = document.querySelector("[data-testid=opening-choose-form]");
  if (confirmForm && window.fetch && window.FormData) {
    confirmForm.addEventListener("submit", function (event) {
      if (confirmForm.getAttribute("data-plain") === "1") {
        return;
      }
      event.preventDefault();
      var button = confirmForm.querySelector("button[type=submit]");
      if (button) {
        button.disabled = true;
      }
      var fallback = function () {
        confirmForm.setAttribute("data-plain", "1");
        HTMLFormElement.prototype.submit.call(confirmForm);
      };
      // Without the one-time submission token: the button is off until the answer
      // comes, and a selection cannot be made twice anyway (a second one finds the
      // unit sold or the buyer's limit reached); the token's bookkeeping would
      // be two more writes on every choice of the rush. The plain form keeps it.
      var body = new FormData(confirmForm);
      body.delete("submission_token");
      window
        .fetch(confirmForm.getAttribute("action") || window.location.href, {
          method: "POST",
          body: body,
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        })
        .then(function (response) {
          return response.json();
        })
        .then(function (answer) {
          if (answer.result === "chosen" && answer.url) {
            window.location.assign(answer.url);
          } else if (answer.result === "taken") {
            var note = document.querySelector("[data-unit-sold-note]");
            if (note) {
              note.hidden = false;
            }
            document.querySelectorAll("[data-back-to-grid]").forEach(function (link) {
              link.setAttribute("href", answer.grid);
            });
            confirmForm.setAttribute("data-answer", "taken");
          } else {
            fallback();
          }
        })
        .catch(fallback);
    });
  }

  if (!root || !window.EventSource) {
    return;
  }
  var soldText = root.getAttribute("data-sold-text") || "";
  var availableText = root.getAttribute("data-available-text") || "";
  var counter = root.querySelector("[data-available-count]");

  function countAvailable() {
    if (counter) {
      counter.textContent = String(
        root.querySelectorAll('[data-unit-id][data-status="available"]').length
      );
    }
  }

  function setStatus(unitId, status) {
    var cell = root.querySelector('[data-unit-id="' + unitId + '"]');
    if (cell) {
      Array.prototype.slice.call(cell.classList).forEach(function (name) {
        if (name.indexOf("unit-") === 0) {
          cell.classList.remove(name);
        }
      });
      cell.classList.add("unit-" + status);
      cell.setAttribute("data-status", status);
      var state = cell.querySelector("[data-unit-state]");
      if (state) {
        state.textContent = status === "available" ? availableText : soldText;
      }
      if (status === "available") {
        cell.removeAttribute("aria-disabled");
        cell.removeAttribute("tabindex");
      } else {
        cell.setAttribute("aria-disabled", "true");
        cell.setAttribute("tabindex", "-1");
      }
      countAvailable();
    }
    // The confirmation page of a unit someone else just took: say so at once.
    if (root.getAttribute("data-watch-unit") === String(unitId)) {
      var note = root.querySelector("[data-unit-sold-note]");
      if (note) {
        note.hidden = status === "available";
      }
      var button = root.querySelector("form button[type=submit]");
      if (button) {
        button.disabled = status !== "available";
      }
      // Back on the grid the unit is outlined, as after a lost race's answer.
      if (status !== "available") {
        document.querySelectorAll("[data-back-to-grid]").forEach(function (link) {
          var url = new URL(link.getAttribute("href"), window.location.href);
          url.searchParams.set("taken", String(unitId));
          link.setAttribute("href", url.pathname + url.search);
        });
      }
    }
  }

  // The event-stream server (crm_site.live_server) when the page names one, with the
  // page's cookies; should it never answer, this server's own stream
  // (data-live-fallback), from the last event seen.
  var handlers = {};
  var handled = {};
  var source = null;
  var opened = false;
  var fellBack = false;
  var lastId = "";
  function listen(url) {
    source = new EventSource(url, { withCredentials: true });
    // Tests and the curious can see whether the page is listening.
    source.addEventListener("open", function () {
      opened = true;
      root.setAttribute("data-live-state", "open");
    });
    source.addEventListener("error", function () {
      root.setAttribute("data-live-state", "reconnecting");
      var fallback = root.getAttribute("data-live-fallback");
      if (source.readyState === EventSource.CLOSED && !opened && fallback && !fellBack) {
        fellBack = true;
        window.setTimeout(function () {
          listen(lastId ? fallback + "?last=" + encodeURIComponent(lastId) : fallback);
        }, 1000);
      }
    });
    Object.keys(handlers).forEach(function (name) {
      source.addEventListener(name, function (event) {
        if (event.lastEventId) {
          // A reconnect replays a little before the last event seen.
          if (handled[event.lastEventId]) {
            return;
          }
          handled[event.lastEventId] = true;
          lastId = event.lastEventId;
        }
        var data = {};
        try {
          data = JSON.parse(event.data);
        } catch (e) {
          return;
        }
        handlers[name](data);
        document.dispatchEvent(new CustomEvent("opening:" + name, { detail: data }));
      });
    });
  }
  function on(name, handle) {
    handlers[name] = handle;
  }
  on("sold", function (data) {
    // A sold unit is never on sale, whatever status the event names.
    var status = data.status && data.status !== "available" ? data.status : "subscribed";
    setStatus(data.unit, status);
  });
  on("released", function (data) { setStatus(data.unit, "available"); });
  on("closed", function () {
    source.close();
    window.location.reload();
  });
  listen(root.getAttribute("data-live-url"));
  window.addEventListener("pagehide", function () { source.close(); });
})();
