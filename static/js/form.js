// Progressive enhancement of the questionnaire form: it works without this script.
// - hides questions whose show_if is false (the server decides, from the saved draft);
// - saves the draft as the client answers, so a refresh or a later visit keeps the answers.
(function () {
  "use strict";
  var form = document.getElementById("qform");
  if (!form || !window.fetch || !window.FormData) return;
  var status = document.getElementById("save-status");
  var timer = null;

  function applyVisibility(visible) {
    var set = {};
    visible.forEach(function (id) { set[id] = true; });
    document.querySelectorAll("[data-conditional]").forEach(function (el) {
      el.hidden = !set[el.getAttribute("data-qid")];
    });
  }

  function save() {
    var data = new FormData(form);
    data.delete("_action");
    fetch(form.getAttribute("data-draft-url"), {
      method: "POST", body: data, credentials: "same-origin", headers: { "Accept": "application/json" }
    }).then(function (r) { return r.ok ? r.json() : null; }).then(function (body) {
      if (!body) return;
      if (body.visible) applyVisibility(body.visible);
      if (status) status.textContent = document.documentElement.lang === "en" ? "Saved" : "已自动保存";
    }).catch(function () { /* offline: the submit button still sends everything */ });
  }

  document.querySelectorAll("[data-conditional]").forEach(function (el) {
    el.hidden = el.getAttribute("data-visible") !== "1";
  });
  form.addEventListener("change", function () { clearTimeout(timer); timer = setTimeout(save, 400); });
  form.addEventListener("input", function (e) {
    if (e.target.tagName === "TEXTAREA" || e.target.type === "text") { clearTimeout(timer); timer = setTimeout(save, 1500); }
  });
  var summary = document.getElementById("error-summary");
  if (summary) summary.focus();
})();
