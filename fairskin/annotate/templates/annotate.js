(function () {
  var form = document.getElementById("answer");
  if (!form) { return; }
  var t0 = performance.now();
  form.addEventListener("submit", function () {
    document.getElementById("client_ms").value = String(Math.round(performance.now() - t0));
  });
  document.addEventListener("keydown", function (e) {
    var tag = e.target && e.target.tagName;
    if (tag === "TEXTAREA" || e.ctrlKey || e.metaKey || e.altKey) { return; }
    var k = e.key, v = null;
    if (k >= "1" && k <= "9") { v = k; } else if (k === "0") { v = "10"; } else if (k === "x" || k === "X") { v = "0"; }
    if (v !== null) {
      var r = document.getElementById("tone-" + v);
      if (r) { r.checked = true; r.focus(); e.preventDefault(); }
    } else if (k === "Enter" && form.querySelector("input[name=tone]:checked")) {
      e.preventDefault();
      if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
    }
  });
})();
