// Letters console: the live counter of a rendering batch, and fast keyboard keying.
(function () {
  var box = document.getElementById("progress");
  if (box && (box.dataset.status === "queued" || box.dataset.status === "rendering")) {
    var poll = function () {
      fetch(box.dataset.statusUrl, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (s) {
        document.getElementById("batch-status").textContent = s.status;
        document.getElementById("batch-rendered").textContent = s.rendered;
        var bar = document.getElementById("batch-bar");
        bar.max = s.total || 1; bar.value = s.rendered;
        if (s.status === "done" || s.status === "failed") { window.location.reload(); } else { setTimeout(poll, 1000); }
      }).catch(function () { setTimeout(poll, 3000); });
    };
    setTimeout(poll, 1000);
  }
  var form = document.getElementById("keying");
  if (form) {
    form.addEventListener("keydown", function (event) {
      if (event.key !== "Enter" || event.target.tagName !== "INPUT") { return; }
      event.preventDefault();
      if (event.ctrlKey || event.metaKey) { form.requestSubmit(); return; }
      var fields = Array.prototype.slice.call(form.querySelectorAll("input:not([type=hidden]):not([type=file])"));
      var next = fields[fields.indexOf(event.target) + 1];
      if (next) { next.focus(); next.select(); } else { form.requestSubmit(); }
    });
  }
})();
