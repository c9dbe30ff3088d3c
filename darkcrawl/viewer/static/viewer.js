// darkcrawl viewer: live counts on the overview, copy buttons. No crawled URL is fetched.
"use strict";
(function () {
  function copy(button) {
    var text = button.getAttribute("data-copy") || "";
    var done = function () {
      button.classList.add("done");
      button.textContent = "copied";
      setTimeout(function () { button.classList.remove("done"); button.textContent = "copy"; }, 1200);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () {});
      return;
    }
    var area = document.createElement("textarea");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); done(); } catch (e) { /* the text stays selectable */ }
    document.body.removeChild(area);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button.copy") : null;
    if (button) { copy(button); }
  });

  var live = document.querySelectorAll("[data-live]");
  if (!live.length) { return; }
  function refresh() {
    fetch("/api/overview", { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        live.forEach(function (node) {
          var key = node.getAttribute("data-live");
          if (key === "status") {
            node.textContent = "Updated " + new Date().toLocaleTimeString() + ".";
          } else if (key in data) {
            node.textContent = String(data[key]);
          }
        });
      })
      .catch(function () {});
  }
  setInterval(refresh, 5000);
}());
