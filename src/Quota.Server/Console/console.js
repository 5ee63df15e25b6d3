// Quota console: live refresh. A page whose <main> carries data-refresh (milliseconds) fetches itself again on that
// interval and swaps in the new <main>. The server renders and escapes everything; this only moves its HTML.
(function () {
  "use strict";
  var main = document.querySelector("main[data-refresh]");
  if (!main) { return; }
  var every = Math.max(1000, parseInt(main.getAttribute("data-refresh"), 10) || 2000);
  var busy = false;
  function refresh() {
    if (busy || document.hidden) { return; }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" }, cache: "no-store" })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.text(); })
      .then(function (text) {
        var next = new DOMParser().parseFromString(text, "text/html").querySelector("main");
        if (next) { main.innerHTML = next.innerHTML; main.setAttribute("data-refreshed", new Date().toISOString()); }
      })
      .catch(function (e) {
        var note = document.getElementById("refresh-state");
        if (note) { note.textContent = "refresh failed: " + e.message; }
      })
      .finally(function () { busy = false; });
  }
  window.setInterval(refresh, every);
})();
