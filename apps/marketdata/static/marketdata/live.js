// Bourse live pages: follows the WebSocket feed (/ws/, signed in by the session) and keeps
// the server-rendered page current. Pages work without it; with it:
//
// - quotes patch every element marked data-symbol="SYM" (cells marked data-field="last", ...);
// - an instrument page (data-live-instrument="SYM") also gets its depth ladder and prints;
// - the client's private streams (data-live-private="orders,account,notifications") make HTMX
//   re-render the sections that listen for "orders-changed", "positions-changed",
//   "balances-changed", "fills-changed" and "chart-changed" (hx-trigger="... from:body");
// - every message carries a per-channel sequence number: on a gap (or after reconnecting)
//   the channel's snapshot is fetched again from the REST API, or its sections re-rendered.
(function () {
  "use strict";

  var API = "/api/v1/instruments/";
  var PRINTS_SHOWN = 20;
  var instrumentRoot = document.querySelector("[data-live-instrument]");
  var instrument = instrumentRoot ? instrumentRoot.getAttribute("data-live-instrument") : null;
  var privateRoot = document.querySelector("[data-live-private]");
  var privateChannels = privateRoot
    ? privateRoot.getAttribute("data-live-private").split(",").filter(Boolean)
    : ["notifications"];
  var notices = document.getElementById("live-notifications");

  var ws = null;
  var delay = 1000;
  var subscribed = {}; // symbol -> true (quotes)
  var lastSeq = {}; // channel -> last message seq on this connection
  var itemSeq = {}; // "channel:symbol" -> last item seq shown
  var timers = {};
  var lastFired = {};

  // -- helpers ------------------------------------------------------------------------------

  function sel(value) {
    return window.CSS && CSS.escape ? CSS.escape(value) : value.replace(/"/g, '\\"');
  }

  function emit(name) {
    if (window.htmx) {
      document.body.dispatchEvent(new CustomEvent(name, { bubbles: true }));
      return;
    }
    // Without HTMX: fetch the listening sections ourselves and swap them in.
    document.querySelectorAll("[hx-trigger]").forEach(function (el) {
      if (el.getAttribute("hx-trigger").split(" ")[0] !== name) return;
      fetch(el.getAttribute("hx-get"), { headers: { "HX-Request": "true" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null) el.outerHTML = html; });
    });
  }

  // At most one event per `wait` ms per name, and always one after the last request.
  function schedule(name, wait) {
    if (timers[name]) return;
    var since = Date.now() - (lastFired[name] || 0);
    timers[name] = setTimeout(function () {
      timers[name] = null;
      lastFired[name] = Date.now();
      emit(name);
    }, since >= wait ? 0 : wait - since);
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); });
  }

  function setStatus(text, cls) {
    document.querySelectorAll("[data-live-status]").forEach(function (el) {
      el.textContent = text;
      el.classList.remove("live", "stale");
      if (cls) el.classList.add(cls);
    });
  }

  function pageSymbols() {
    var found = {};
    document.querySelectorAll("[data-live-quotes]").forEach(function (el) {
      el.getAttribute("data-live-quotes").split(",").forEach(function (s) { if (s) found[s] = true; });
    });
    document.querySelectorAll("[data-symbol]").forEach(function (el) {
      found[el.getAttribute("data-symbol")] = true;
    });
    return Object.keys(found);
  }

  function send(message) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
  }

  // -- quotes ---------------------------------------------------------------------------------

  function setField(scope, field, text, cls) {
    scope.querySelectorAll('[data-field="' + field + '"]').forEach(function (cell) {
      var before = cell.textContent;
      cell.textContent = text;
      if (cls !== undefined) {
        cell.classList.remove("up", "down");
        if (cls) cell.classList.add(cls);
      }
      if (field === "last" && before !== text && before !== "—") {
        var up = parseFloat(text) >= parseFloat(before);
        cell.classList.remove("flash-up", "flash-down");
        void cell.offsetWidth; // restart the animation
        cell.classList.add(up ? "flash-up" : "flash-down");
      }
    });
  }

  function showQuote(q) {
    var key = "quotes:" + q.symbol;
    if (q.seq !== undefined && itemSeq[key] !== undefined && q.seq < itemSeq[key]) return;
    itemSeq[key] = q.seq;
    var scopes = document.querySelectorAll('[data-symbol="' + sel(q.symbol) + '"]');
    var held = false;
    scopes.forEach(function (scope) {
      if (scope.hasAttribute("data-position")) held = true;
      ["bid", "ask", "bid_size", "ask_size", "last", "high", "low", "previous_close"].forEach(
        function (field) { setField(scope, field, q[field] || "—"); }
      );
      setField(scope, "volume", q.volume || "0");
      var pct = q.change_percent;
      var cls = pct ? (pct.charAt(0) === "-" ? "down" : (Number(pct) > 0 ? "up" : "")) : "";
      setField(scope, "change_percent", pct ? pct + "%" : "—", cls);
    });
    if (held) {
      // Market value and P&L are computed on the server, in decimals.
      schedule("positions-changed", 2000);
      schedule("balances-changed", 2000);
    }
  }

  function resyncQuotes() {
    Object.keys(subscribed).forEach(function (symbol) {
      getJSON(API + encodeURIComponent(symbol) + "/quote").then(showQuote, function () {});
    });
  }

  // -- depth and prints (instrument page) -----------------------------------------------------

  function cell(text, cls) {
    var td = document.createElement("td");
    td.className = "num" + (cls ? " " + cls : "");
    td.textContent = text || "";
    return td;
  }

  function showDepth(d) {
    if (d.symbol && d.symbol !== instrument) return;
    var key = "depth:" + instrument;
    if (d.seq !== undefined && itemSeq[key] !== undefined && d.seq < itemSeq[key]) return;
    itemSeq[key] = d.seq;
    var table = document.querySelector('[data-depth-symbol="' + sel(instrument) + '"]');
    if (!table) return;
    var body = table.tBodies[0];
    var rows = Math.min(Math.max(d.bids.length, d.asks.length), 10);
    var fresh = document.createDocumentFragment();
    for (var i = 0; i < rows; i++) {
      var bid = d.bids[i] || [], ask = d.asks[i] || [];
      var tr = document.createElement("tr");
      tr.appendChild(cell(bid[1]));
      tr.appendChild(cell(bid[0], "up"));
      tr.appendChild(cell(ask[0], "down"));
      tr.appendChild(cell(ask[1]));
      fresh.appendChild(tr);
    }
    if (!rows) {
      var empty = document.createElement("tr");
      empty.className = "empty";
      var td = document.createElement("td");
      td.colSpan = 4;
      td.className = "aside";
      td.textContent = "No orders on the book.";
      empty.appendChild(td);
      fresh.appendChild(empty);
    }
    body.replaceChildren(fresh);
  }

  function printRow(p) {
    var tr = document.createElement("tr");
    tr.setAttribute("data-seq", p.seq);
    var time = document.createElement("td");
    time.textContent = (p.timestamp || "").slice(11, 19);
    tr.appendChild(time);
    tr.appendChild(cell(p.price, p.side === "buy" ? "up" : "down"));
    tr.appendChild(cell(p.quantity));
    var side = document.createElement("td");
    side.textContent = p.side;
    tr.appendChild(side);
    return tr;
  }

  function showPrints(prints, replace) {
    var table = document.querySelector('[data-prints-symbol="' + sel(instrument) + '"]');
    if (!table) return;
    var body = table.tBodies[0];
    if (replace) body.replaceChildren();
    var empty = body.querySelector("tr.empty");
    if (empty && prints.length) empty.remove();
    var shown = {};
    body.querySelectorAll("tr[data-seq]").forEach(function (tr) { shown[tr.getAttribute("data-seq")] = true; });
    // Oldest first, so the newest ends on top.
    prints.slice().sort(function (a, b) { return a.seq - b.seq; }).forEach(function (p) {
      if (p.symbol && p.symbol !== instrument) return;
      if (shown[String(p.seq)]) return;
      var row = printRow(p);
      if (!replace) row.className = "fresh";
      body.insertBefore(row, body.firstChild);
    });
    while (body.rows.length > PRINTS_SHOWN) body.deleteRow(body.rows.length - 1);
    if (prints.length) schedule("chart-changed", 1500);
  }

  function resyncInstrument(channel) {
    if (!instrument) return;
    var base = API + encodeURIComponent(instrument);
    if (channel === "depth") {
      getJSON(base + "/depth?levels=10").then(showDepth, function () {});
    } else if (channel === "trades") {
      getJSON(base + "/trades?limit=" + PRINTS_SHOWN).then(function (prints) {
        showPrints(prints, true);
      }, function () {});
    }
  }

  // -- private streams ------------------------------------------------------------------------

  function refreshAccount() {
    emit("orders-changed");
    emit("positions-changed");
    emit("balances-changed");
    emit("fills-changed");
  }

  function showOrder(o) {
    document.querySelectorAll('[data-order="' + o.id + '"]').forEach(function (row) {
      setField(row, "filled", o.filled_quantity);
    });
    schedule("orders-changed", 300);
    if (o.status === "filled" || o.status === "partially_filled") {
      schedule("positions-changed", 300);
      schedule("fills-changed", 300);
      schedule("balances-changed", 300);
    } else if (o.status === "cancelled" || o.status === "expired" || o.status === "rejected") {
      schedule("balances-changed", 300);
    }
  }

  function showNotification(n) {
    if (!notices || !n) return;
    var item = document.createElement("div");
    item.className = "msg msg-info";
    item.setAttribute("role", "status");
    var strong = document.createElement("strong");
    strong.textContent = n.subject;
    item.appendChild(strong);
    item.appendChild(document.createTextNode(" " + n.body));
    notices.prepend(item);
    while (notices.children.length > 5) notices.removeChild(notices.lastChild);
  }

  // -- the connection ---------------------------------------------------------------------------

  function resync(channel) {
    if (channel === "quotes") resyncQuotes();
    else if (channel === "depth" || channel === "trades") resyncInstrument(channel);
    else if (channel === "orders" || channel === "account") refreshAccount();
  }

  function subscribeQuotes() {
    var fresh = pageSymbols().filter(function (s) { return !subscribed[s]; });
    if (!fresh.length || !ws || ws.readyState !== WebSocket.OPEN) return;
    fresh.forEach(function (s) { subscribed[s] = true; });
    send({ action: "subscribe", channel: "quotes", symbols: fresh });
  }

  function onMessage(event) {
    var message = JSON.parse(event.data);
    var channel = message.channel;
    if (channel === "error") {
      if (window.console) console.warn("Bourse feed:", message.data && message.data.message);
      return;
    }
    if (channel === "subscribed" || channel === "unsubscribed") return;
    if (typeof message.seq === "number") {
      var last = lastSeq[channel];
      lastSeq[channel] = message.seq;
      if (last !== undefined && message.seq > last + 1) resync(channel);
    }
    if (channel === "quotes") message.data.forEach(showQuote);
    else if (channel === "depth") message.data.forEach(showDepth);
    else if (channel === "trades") showPrints(message.data, false);
    else if (channel === "orders") showOrder(message.data);
    else if (channel === "account") {
      schedule("balances-changed", 300);
      schedule("positions-changed", 300);
      schedule("fills-changed", 300);
    } else if (channel === "notifications") showNotification(message.data);
    setStatus("Live", "live");
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(scheme + window.location.host + "/ws/");
    var reconnected = Object.keys(lastSeq).length > 0 || Object.keys(subscribed).length > 0;
    ws.onopen = function () {
      delay = 1000;
      subscribed = {};
      lastSeq = {};
      setStatus("Live", "live");
      subscribeQuotes();
      if (instrument) {
        send({ action: "subscribe", channel: "depth", symbols: [instrument] });
        send({ action: "subscribe", channel: "trades", symbols: [instrument] });
      }
      privateChannels.forEach(function (c) { send({ action: "subscribe", channel: c }); });
      if (reconnected) {
        // Whatever happened while we were away: read it again.
        resyncInstrument("trades");
        refreshAccount();
      }
    };
    ws.onmessage = onMessage;
    ws.onclose = function (event) {
      setStatus("Reconnecting…", "stale");
      if (event.code === 4401 || event.code === 4429) {
        setStatus(event.code === 4429 ? "Live prices paused: too many open tabs." : "Sign in for live prices.", "stale");
        return;
      }
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }

  // Sections HTMX swapped in may show symbols not followed yet (a new position).
  document.body.addEventListener("htmx:afterSettle", subscribeQuotes);

  // On a live page the order ticket stays: a placed order is announced here (its page a
  // link away), a fresh ticket is swapped in, and the feed shows what happens to the order.
  document.body.addEventListener("htmx:beforeOnLoad", function (event) {
    var source = event.detail.elt;
    var stay = source && source.closest ? source.closest("[data-ticket-stay]") : null;
    var target = event.detail.xhr.getResponseHeader("HX-Redirect");
    if (!stay || !target) return;
    event.preventDefault();
    var result = stay.querySelector("#ticket-result");
    if (result) {
      var note = document.createElement("p");
      note.className = "msg msg-success";
      note.setAttribute("role", "status");
      note.appendChild(document.createTextNode("Order placed. "));
      var link = document.createElement("a");
      link.href = target;
      link.textContent = "See the order";
      note.appendChild(link);
      result.replaceChildren(note);
    }
    var fresh = stay.getAttribute("data-ticket-url");
    if (fresh && window.htmx) {
      htmx.ajax("GET", fresh, { target: "#order-ticket", swap: "outerHTML" });
    }
    refreshAccount();
  });

  if ("WebSocket" in window) connect();
})();
