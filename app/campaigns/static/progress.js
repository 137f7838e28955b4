// Live counter on a campaign page: polls progress.json every 2 s while the campaign runs.
(function () {
  var box = document.querySelector("[data-progress-url]");
  if (!box) return;
  function tick() {
    fetch(box.getAttribute("data-progress-url"), {credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (p) {
        Object.keys(p.states).forEach(function (k) {
          var el = document.querySelector('[data-state="' + k + '"]');
          if (el) el.textContent = p.states[k];
        });
        var done = document.querySelector("[data-done]");
        if (done) done.textContent = p.done + " / " + p.total;
        var bar = document.querySelector("progress");
        if (bar) { bar.max = p.total || 1; bar.value = p.done; }
        if (p.status === "running") setTimeout(tick, 2000);
      })
      .catch(function () { setTimeout(tick, 5000); });
  }
  tick();
})();
