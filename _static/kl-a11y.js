/* kl-a11y.js: accessibility fixes over the theme that need the page as laid out (WCAG 2.1 AA).
   Checked by tests/browser/test_accessibility.py (axe-core).

   Scrollable regions reachable by keyboard (WCAG 2.1.1, axe rule scrollable-region-focusable): an element of the
   page that scrolls (long code outputs, wide display math, tables) gets tabindex="0", so that a keyboard user can
   focus it and scroll it with the arrow keys, unless something inside it already takes the focus. The theme does
   this for <pre> and a few output containers only; this covers every element of the article, once the page is
   laid out, again once MathJax has typeset the formulas (they change widths) and when the window is resized. */
(function () {
  "use strict";

  var FOCUSABLE = "a[href], button, input, select, textarea, summary, [tabindex]:not([tabindex='-1'])";
  var MARK = "klScrollFocus";

  function scrolls(el, cs) {
    var x = (cs.overflowX === "auto" || cs.overflowX === "scroll") && el.scrollWidth > el.clientWidth + 1;
    var y = (cs.overflowY === "auto" || cs.overflowY === "scroll") && el.scrollHeight > el.clientHeight + 1;
    return x || y;
  }

  function markScrollable() {
    var root = document.querySelector("#main-content") || document.querySelector("main") || document.body;
    if (!root) return;
    var all = root.querySelectorAll("*");
    for (var i = 0; i < all.length; i++) {
      var el = all[i];
      if (el.closest("svg, mjx-assistive-mml")) continue;
      var cs = getComputedStyle(el);
      if (scrolls(el, cs)) {
        if (!el.hasAttribute("tabindex") && !el.querySelector(FOCUSABLE)) {
          el.setAttribute("tabindex", "0");
          el.dataset[MARK] = "1";
        }
      } else if (el.dataset[MARK]) {  // ours, and it no longer scrolls
        el.removeAttribute("tabindex");
        delete el.dataset[MARK];
      }
    }
  }

  var timer = null;
  function later() {
    clearTimeout(timer);
    timer = setTimeout(markScrollable, 200);
  }

  var hooked = false;
  function afterMath() {  // MathJax loads asynchronously: hook its typesetting whenever it is there
    if (!hooked && window.MathJax && MathJax.startup && MathJax.startup.promise) {
      hooked = true;
      MathJax.startup.promise.then(markScrollable);
    }
  }

  function start() {
    markScrollable();
    afterMath();
    window.addEventListener("load", function () { markScrollable(); afterMath(); });
    window.addEventListener("resize", later);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
