// Opening day's live grid (开盘选房): every page of a selection session — the
// consultants' console, the big screen, the buyers' phones — listens to the session's
// event stream, given as [data-live-url] on a container. The server pushes each
// change (sales.services.opening / sales.services.sessions); nothing is polled.
//
// Events: "sold" {unit, status, position, selection}, "released" {unit, status},
// "called" {position}, "closed" {}. A unit's cell is [data-unit-id] with
// data-status and the class unit-<status>; [data-called-position] shows the number
// called; [data-live-count=sold|left] count the cells; [data-live-sales] lists the
// latest sales (its data-sale-format, e.g. "No. {position} → {unit}"). Each event is
// also sent on document as a CustomEvent "opening:<name>" with the data as detail,
// so a page can react (htmx: hx-trigger="opening:sold from:document").
//
// The stream ends every ~25 s; EventSource reconnects by itself and sends the last
// event id (Last-Event-ID), so the server replays what happened in between. When
// the browser gives up (the server answered an error), a new EventSource starts a
// few seconds later from the last id seen (?last=).
(function () {
  "use strict";
  var root = document.querySelector("[data-live-url]");
  if (!root || !window.EventSource) {
    return;
  }
  var lastId = "";
  // Classes that say a cell's status; "unit-cell" and others stay.
  var STATUSES = ["available", "reserved", "subscribed", "contracted", "handed_over"];

  function cellsOf(unitId) {
    return document.querySelectorAll('[data-unit-id="' + String(unitId) + '"]');
  }

  function setStatus(unitId, status) {
    cellsOf(unitId).forEach(function (cell) {
      STATUSES.forEach(function (name) {
        cell.classList.remove("unit-" + name);
      });
      cell.classList.add("unit-" + status);
      cell.dataset.status = status;
      cell.querySelectorAll("button").forEach(function (button) {
        button.disabled = status !== "available";
      });
    });
  }

  function recount() {
    var cells = document.querySelectorAll("[data-unit-id][data-status]");
    var seen = {};
    var total = 0;
    var sold = 0;
    cells.forEach(function (cell) {
      var id = cell.dataset.unitId;
      if (seen[id]) {
        return;
      }
      seen[id] = true;
      total += 1;
      if (cell.dataset.status !== "available") {
        sold += 1;
      }
    });
    document.querySelectorAll('[data-live-count="sold"]').forEach(function (el) {
      el.textContent = String(sold);
    });
    document.querySelectorAll('[data-live-count="left"]').forEach(function (el) {
      el.textContent = String(total - sold);
    });
  }

  function listSale(data) {
    var cell = cellsOf(data.unit)[0];
    var number = cell ? cell.dataset.unitNumber || "" : "";
    document.querySelectorAll("[data-live-sales]").forEach(function (list) {
      var format = list.dataset.saleFormat || "{position} → {unit}";
      var item = document.createElement("li");
      item.className = "opening-new";
      item.textContent = format
        .replace("{position}", data.position == null ? "—" : String(data.position))
        .replace("{unit}", number);
      list.insertBefore(item, list.firstChild);
      while (list.children.length > 8) {
        list.removeChild(list.lastChild);
      }
    });
  }

  var handlers = {
    sold: function (data) {
      // A sold unit is never on sale, whatever status the event carries.
      var status = data.status && data.status !== "available" ? data.status : "subscribed";
      setStatus(data.unit, status);
      recount();
      listSale(data);
    },
    released: function (data) {
      setStatus(data.unit, data.status || "available");
      recount();
    },
    called: function (data) {
      document.querySelectorAll("[data-called-position]").forEach(function (el) {
        el.textContent = String(data.position);
      });
    },
    closed: function () {
      document.querySelectorAll("[data-live-closed]").forEach(function (el) {
        el.hidden = false;
      });
    },
  };

  // A reconnect replays a little before the last event seen (a sale may arrive
  // out of order): an event already handled is skipped.
  var handled = {};

  function dispatch(name, event) {
    if (event.lastEventId) {
      if (handled[event.lastEventId]) {
        return;
      }
      handled[event.lastEventId] = true;
      lastId = event.lastEventId;
    }
    var data = {};
    try {
      data = JSON.parse(event.data || "{}");
    } catch (e) {
      return;
    }
    handlers[name](data);
    document.dispatchEvent(new CustomEvent("opening:" + name, { detail: data }));
  }

  // The event-stream server (crm_site.live_server) when the page names one, with the
  // page's cookies; should it never answer, this server's own stream
  // (data-live-fallback).
  var streamUrl = root.dataset.liveUrl;
  var opened = false;

  function connect() {
    var url = streamUrl;
    if (lastId) {
      url += (url.indexOf("?") < 0 ? "?" : "&") + "last=" + encodeURIComponent(lastId);
    }
    var source = new EventSource(url, { withCredentials: true });
    source.addEventListener("open", function () {
      opened = true;
      root.dataset.liveState = "open"; // listening (browser tests wait for it)
    });
    Object.keys(handlers).forEach(function (name) {
      source.addEventListener(name, function (event) {
        dispatch(name, event);
      });
    });
    source.addEventListener("error", function () {
      root.dataset.liveState = "reconnecting";
      if (source.readyState === EventSource.CLOSED) {
        if (!opened && root.dataset.liveFallback) {
          streamUrl = root.dataset.liveFallback;
        }
        window.setTimeout(connect, 3000);
      }
    });
  }

  connect();
})();
