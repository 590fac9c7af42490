// The call-centre screen pop (来电弹屏): the agent's page listens to its own event
// stream (customers.views.telephony.screen_pop_stream); a ringing call fetches the
// caller's card and shows it. The stream ends every ~25 s and EventSource reconnects
// with the last event id, so the server replays what rang in between; the id is also
// kept for the tab (sessionStorage), so moving to another page loses nothing either.
(function () {
  "use strict";
  var root = document.getElementById("screen-pop");
  if (!root || !window.EventSource) {
    return;
  }
  var LAST = "screenPop.lastId";
  var CARD = "screenPop.card";
  var shown = null;

  function store(key, value) {
    try {
      if (value === null) {
        window.sessionStorage.removeItem(key);
      } else {
        window.sessionStorage.setItem(key, value);
      }
    } catch (e) {
      // Private mode or storage full: the pop still works on this page.
    }
  }

  function stored(key) {
    try {
      return window.sessionStorage.getItem(key);
    } catch (e) {
      return null;
    }
  }

  function show(url) {
    shown = url;
    store(CARD, url);
    fetch(url, { credentials: "same-origin", headers: { "HX-Request": "true" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error(String(response.status));
        }
        return response.text();
      })
      .then(function (html) {
        if (shown !== url) {
          return; // another call rang meanwhile
        }
        root.innerHTML = html;
        root.hidden = false;
        if (window.htmx) {
          window.htmx.process(root);
        }
      })
      .catch(function () {
        if (shown === url) {
          close();
        }
      });
  }

  function close() {
    shown = null;
    store(CARD, null);
    root.hidden = true;
    root.innerHTML = "";
  }

  root.addEventListener("click", function (event) {
    if (event.target.closest("[data-screen-pop-close]")) {
      close();
    }
  });

  // The stream is on the event-stream server when the page names one (with the
  // page's cookies); if it cannot be reached before it ever opened, this server's.
  var streamUrl = root.dataset.streamUrl;
  var opened = false;

  function connect() {
    var url = streamUrl;
    var last = stored(LAST);
    if (last) {
      url += "?last=" + encodeURIComponent(last);
    }
    var source = new EventSource(url, { withCredentials: true });
    source.addEventListener("open", function () {
      opened = true;
      root.dataset.state = "open"; // listening (the browser test waits for it)
    });
    source.addEventListener("error", function () {
      var fallback = root.dataset.streamFallback;
      if (source.readyState === EventSource.CLOSED && !opened && streamUrl !== fallback) {
        streamUrl = fallback;
        window.setTimeout(connect, 3000);
      }
    });
    source.addEventListener("call", function (event) {
      if (event.lastEventId) {
        store(LAST, event.lastEventId);
      }
      var data = JSON.parse(event.data);
      if (data.event === "ringing") {
        show(data.card);
      } else if (data.card === shown) {
        show(data.card); // answered or ended: the card shows its new state
      }
    });
  }

  // A card still open on the page the agent came from stays on the new one.
  var open = stored(CARD);
  if (open) {
    show(open);
  }
  connect();
})();
