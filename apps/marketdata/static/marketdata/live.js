// Live quotes and notifications over the Bourse WebSocket feed (/ws/, session sign-in).
// The pages work without it: they are rendered with the quotes of the moment.
(function () {
  "use strict";
  var table = document.querySelector("[data-live-quotes]");
  var symbols = table ? table.getAttribute("data-live-quotes").split(",").filter(Boolean) : [];
  var notices = document.getElementById("live-notifications");
  var delay = 1000;

  function setCell(row, field, text, cls) {
    var cell = row.querySelector('[data-field="' + field + '"]');
    if (!cell) return;
    cell.textContent = text;
    if (cls !== undefined) {
      cell.classList.remove("up", "down");
      if (cls) cell.classList.add(cls);
    }
  }

  function showQuote(q) {
    document.querySelectorAll('tr[data-symbol="' + q.symbol + '"]').forEach(function (row) {
      setCell(row, "bid", q.bid || "—");
      setCell(row, "ask", q.ask || "—");
      setCell(row, "last", q.last || "—");
      var pct = q.change_percent;
      setCell(row, "change_percent", pct ? pct + "%" : "—",
        pct ? (pct.charAt(0) === "-" ? "down" : (Number(pct) > 0 ? "up" : "")) : "");
      setCell(row, "volume", q.volume || "0");
    });
  }

  function showNotification(n) {
    if (!notices) return;
    var item = document.createElement("div");
    item.className = "msg msg-info";
    item.setAttribute("role", "status");
    var strong = document.createElement("strong");
    strong.textContent = n.subject;
    item.appendChild(strong);
    item.appendChild(document.createTextNode(" " + n.body));
    notices.prepend(item);
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(scheme + window.location.host + "/ws/");
    ws.onopen = function () {
      delay = 1000;
      if (symbols.length) {
        ws.send(JSON.stringify({ action: "subscribe", channel: "quotes", symbols: symbols }));
      }
      ws.send(JSON.stringify({ action: "subscribe", channel: "notifications" }));
    };
    ws.onmessage = function (event) {
      var message = JSON.parse(event.data);
      if (message.channel === "quotes") message.data.forEach(showQuote);
      else if (message.channel === "notifications") showNotification(message.data);
    };
    ws.onclose = function (event) {
      if (event.code === 4401 || event.code === 4429) return; // signed out, or too many tabs
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }

  if ("WebSocket" in window) connect();
})();
