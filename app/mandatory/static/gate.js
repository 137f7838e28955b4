// The mandatory gate (standard 5.2.3: a step the client cannot close).
// - On the questionnaire: the back button stays on the page (a history entry that re-arms itself);
//   the server shows the same form for a pending session whatever the client does, and the
//   drafts (form.js) keep the answers across a refresh.
// - On the finish page: tell the embedding page (iframe parent, WebView bridge or opener) how it
//   ended, then go to return_url with the signed result token.
(function () {
  "use strict";
  var done = document.getElementById("gate-done");
  if (!done) {
    if (window.history && history.pushState) {
      history.pushState({ gate: true }, "", location.href);
      window.addEventListener("popstate", function () { history.pushState({ gate: true }, "", location.href); });
    }
    return;
  }
  var message = JSON.parse(done.getAttribute("data-message"));
  var origins = JSON.parse(done.getAttribute("data-origins") || "[]");
  var text = JSON.stringify(message);
  // Only the origins configured for the API key may receive the token (never "*").
  if (window.parent && window.parent !== window) {
    origins.forEach(function (origin) { try { window.parent.postMessage(message, origin); } catch (e) { /* ignore */ } });
  }
  if (window.opener) {
    origins.forEach(function (origin) { try { window.opener.postMessage(message, origin); } catch (e) { /* ignore */ } });
  }
  // Mobile WebViews: React Native, iOS WKWebView (handler "huifang"), Android @JavascriptInterface "HuifangBridge".
  try { if (window.ReactNativeWebView) window.ReactNativeWebView.postMessage(text); } catch (e) { /* ignore */ }
  try { if (window.webkit && window.webkit.messageHandlers && window.webkit.messageHandlers.huifang) window.webkit.messageHandlers.huifang.postMessage(message); } catch (e) { /* ignore */ }
  try { if (window.HuifangBridge) window.HuifangBridge.postMessage(text); } catch (e) { /* ignore */ }
  var target = done.getAttribute("data-return-url");
  if (target) setTimeout(function () { location.replace(target); }, 300);
})();
