// Progressive enhancement of the questionnaire form: it works without this script.
// - hides questions whose show_if is false (the server decides, from the saved draft);
// - saves the draft as the client answers, so a refresh or a later visit keeps the answers.
(function () {
  "use strict";
  var form = document.getElementById("qform");
  if (!form || !window.fetch || !window.FormData) return;
  var status = document.getElementById("save-status");
  var timer = null;

  // Number the questions on screen 1, 2, 3 … so hidden follow-ups leave no gaps ("11." then "14.").
  function renumber() {
    var n = 0;
    form.querySelectorAll(".question").forEach(function (el) {
      var num = el.querySelector(".num");
      if (num && !el.hidden) { n += 1; num.textContent = n + "."; }
    });
  }

  function applyVisibility(visible) {
    var set = {};
    visible.forEach(function (id) { set[id] = true; });
    document.querySelectorAll("[data-conditional]").forEach(function (el) {
      el.hidden = !set[el.getAttribute("data-qid")];
    });
    renumber();
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

  // With the script, questions that do not apply are hidden, so the "(answer if it applies to you)"
  // notes the no-script page needs are only clutter: the "js" class hides them.
  document.documentElement.classList.add("js");
  document.querySelectorAll("[data-conditional]").forEach(function (el) {
    el.hidden = el.getAttribute("data-visible") !== "1";
  });
  renumber();
  form.addEventListener("change", function () { clearTimeout(timer); timer = setTimeout(save, 400); });
  // The submit carries every answer: a pending autosave must not race it.
  form.addEventListener("submit", function () { clearTimeout(timer); timer = null; });
  form.addEventListener("input", function (e) {
    if (e.target.tagName === "TEXTAREA" || e.target.type === "text") { clearTimeout(timer); timer = setTimeout(save, 1500); }
  });
  var summary = document.getElementById("error-summary");
  if (summary) summary.focus();
})();
