// Refreshes the admin panels every few seconds, but not while the tab is hidden: a forgotten
// admin tab must not poll the broker all night. htmx does the fetching and swapping; this only
// decides when. (A file of its own because the Content-Security-Policy forbids inline scripts.)
(function () {
  "use strict";
  var EVERY_MS = 5000;

  function refresh() {
    if (document.visibilityState !== "visible" || !window.htmx) return;
    document.querySelectorAll("[data-refresh]").forEach(function (el) {
      htmx.trigger(el, "refresh");
    });
  }

  setInterval(refresh, EVERY_MS);
  // Coming back to the tab shows fresh figures at once, not up to EVERY_MS later.
  document.addEventListener("visibilitychange", refresh);
})();
