"use strict";
(function () {
  var form = document.getElementById("answer");
  if (!form) { return; }
  var started = performance.now();
  var box = document.getElementById("zoombox"), img = document.getElementById("photo");
  var viewer = document.getElementById("viewer");
  var z = {s: 1, x: 0, y: 0};
  var pointers = {}, pinch = null, drag = null;

  function clamp() {
    var w = box.clientWidth, h = box.clientHeight;
    z.s = Math.min(8, Math.max(1, z.s));
    z.x = Math.min(0, Math.max(w - w * z.s, z.x));
    z.y = Math.min(0, Math.max(h - h * z.s, z.y));
  }
  function apply() { clamp(); img.style.transform = "translate(" + z.x + "px," + z.y + "px) scale(" + z.s + ")"; }
  function zoomAt(factor, cx, cy) {
    var s0 = z.s;
    z.s = Math.min(8, Math.max(1, z.s * factor));
    z.x = cx - (cx - z.x) * (z.s / s0);
    z.y = cy - (cy - z.y) * (z.s / s0);
    apply();
  }
  function centre() { return [box.clientWidth / 2, box.clientHeight / 2]; }
  function rel(e) { var r = box.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; }

  box.addEventListener("wheel", function (e) {
    e.preventDefault(); var p = rel(e); zoomAt(e.deltaY < 0 ? 1.25 : 0.8, p[0], p[1]);
  }, {passive: false});
  box.addEventListener("dblclick", function (e) {
    var p = rel(e); if (z.s > 1) { z = {s: 1, x: 0, y: 0}; apply(); } else { zoomAt(2.5, p[0], p[1]); }
  });
  box.addEventListener("pointerdown", function (e) {
    box.setPointerCapture(e.pointerId); pointers[e.pointerId] = rel(e);
    var ids = Object.keys(pointers);
    if (ids.length === 2) {
      var a = pointers[ids[0]], b = pointers[ids[1]];
      pinch = {d: Math.hypot(a[0] - b[0], a[1] - b[1]), s: z.s}; drag = null;
    } else { drag = {p: rel(e), x: z.x, y: z.y}; }
  });
  box.addEventListener("pointermove", function (e) {
    if (!(e.pointerId in pointers)) { return; }
    pointers[e.pointerId] = rel(e);
    var ids = Object.keys(pointers);
    if (pinch && ids.length === 2) {
      var a = pointers[ids[0]], b = pointers[ids[1]];
      var d = Math.hypot(a[0] - b[0], a[1] - b[1]);
      zoomAt((pinch.s * d / pinch.d) / z.s, (a[0] + b[0]) / 2, (a[1] + b[1]) / 2);
    } else if (drag) {
      var p = rel(e); z.x = drag.x + p[0] - drag.p[0]; z.y = drag.y + p[1] - drag.p[1]; apply();
    }
  });
  function up(e) { delete pointers[e.pointerId]; pinch = null; drag = null; }
  box.addEventListener("pointerup", up); box.addEventListener("pointercancel", up);
  document.querySelectorAll("[data-zoom]").forEach(function (b) {
    b.addEventListener("click", function () {
      var c = centre(), k = b.getAttribute("data-zoom");
      if (k === "in") { zoomAt(1.5, c[0], c[1]); } else if (k === "out") { zoomAt(1 / 1.5, c[0], c[1]); }
      else { z = {s: 1, x: 0, y: 0}; apply(); }
    });
  });

  function pick(name, value) {
    var el = document.getElementById(name + "-" + value);
    if (el) { el.checked = true; el.dispatchEvent(new Event("change", {bubbles: true})); }
  }
  document.addEventListener("keydown", function (e) {
    var t = e.target && e.target.tagName;
    if (t === "TEXTAREA" || t === "SELECT" || (t === "INPUT" && e.target.type === "text") || e.ctrlKey || e.metaKey || e.altKey) { return; }
    var digit = /^Digit([0-9])$/.exec(e.code || "");
    var k = (e.key || "").toLowerCase();
    if (k === "r" && !e.shiftKey) { pick("origin", "real"); }
    else if (k === "s" && !e.shiftKey) { pick("origin", "synthetic"); }
    else if (digit && e.shiftKey) { pick("confidence", digit[1]); }
    else if (digit && digit[1] !== "0") { pick("realism", digit[1]); }
    else if (k === "0") { z = {s: 1, x: 0, y: 0}; apply(); }
    else if (k === "+" || k === "=") { var c = centre(); zoomAt(1.5, c[0], c[1]); }
    else if (k === "-") { var c2 = centre(); zoomAt(1 / 1.5, c2[0], c2[1]); }
    else if (k === "enter") { if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); } }
    else { return; }
    e.preventDefault();
  });

  var limit = parseFloat(viewer.getAttribute("data-time-limit") || "0");
  if (limit > 0) {
    var timer = document.getElementById("timer");
    timer.hidden = false;
    var tick = function () {
      var left = limit - (performance.now() - started) / 1000;
      if (left <= 0) {
        timer.textContent = "0 s"; viewer.classList.add("expired");
        document.getElementById("expired").hidden = false; return;
      }
      timer.textContent = Math.ceil(left) + " s"; setTimeout(tick, 250);
    };
    tick();
  }
  // where a page needs a scroll (a phone), the next image opens where the reader left off, not at the top
  try {
    var kept = sessionStorage.getItem("fairskin-scroll");
    if (kept !== null) { sessionStorage.removeItem("fairskin-scroll"); window.scrollTo(0, Number(kept)); }
  } catch (e) { /* storage may be off: the page then opens at the top */ }
  form.addEventListener("submit", function () {
    try { sessionStorage.setItem("fairskin-scroll", String(window.scrollY)); } catch (e) { /* see above */ }
    document.getElementById("client_ms").value = String(Math.round(performance.now() - started));
    var b = document.getElementById("submit"); setTimeout(function () { b.disabled = true; }, 0);
  });
})();
