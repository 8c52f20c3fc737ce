"""Accessibility of the built site (WCAG 2.1 AA), in headless Chromium with the network cut off.

* Every page passes axe-core's WCAG 2.1 A and AA rules (tags wcag2a, wcag2aa, wcag21a, wcag21aa) with no
  *serious* or *critical* violation, in the theme's light mode and in its dark mode. axe-core is the copy
  bundled with axe-playwright-python, injected into the page: nothing is fetched.
* Figures: every image a notebook cell outputs has alt text that is not its file name (myst-nb names images
  by a SHA-256 hash, which a screen reader would read out); ``tests/test_figures_hygiene.py`` checks the
  notebooks' alt texts themselves.
* Math: every formula MathJax typesets carries assistive MathML (``mjx-assistive-mml``, read by screen
  readers), from the MathJax served by the site.
* Dark mode: figures sit on a light card (the computed background behind each figure is light, and the
  figure is not dimmed), and the playground widgets' text keeps a contrast of at least 4.5:1 with the
  background behind it, in light and dark mode.
* Motion: with ``prefers-reduced-motion: reduce`` nothing on the page animates or scrolls smoothly.

The pages are audited one after the other in the session's one browser, with generous timeouts
(``KL_BOOK_BROWSER_TIMEOUT``, seconds, 600 by default). Each page is loaded once per mode (the ``loaded_page``
fixture of conftest.py) for every check that only reads it: axe, alt texts, contrast, and the checks of
test_site_offline.py, test_launch.py and the Listen button. Run on its own (prints the axe counts per rule, every
impact, light and dark, and the time the audit took)::

    KL_BOOK_SITE=_build/html .venv/bin/python tests/browser/test_accessibility.py
"""
from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE = Path(os.environ.get("KL_BOOK_SITE", ROOT / "_build" / "html"))
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = {"serious", "critical"}
HASH_NAME = re.compile(r"(^|/)[0-9a-f]{16,}(\.\w+)?$|\.(png|jpe?g|svg|gif)$", re.IGNORECASE)


REFRESH = re.compile(r'<meta\s+http-equiv="refresh"\s+content="(\d+);\s*url=([^"]+)"', re.IGNORECASE)


def is_redirect(path: Path) -> bool:
    """A page that only sends the reader on (``<meta http-equiv="Refresh">``), such as the site's index.html."""
    return bool(REFRESH.search(path.read_text(encoding="utf-8", errors="replace")))


def site_pages(site: Path = SITE) -> list[str]:
    """Every HTML page of the site, relative to its root (not the copied sources, static files and redirects)."""
    if not site.exists():
        return []
    skip = ("_static", "_sources", "_images", "_downloads")
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")
                  if not p.relative_to(site).parts[0].startswith(skip) and not is_redirect(p))


PAGES = site_pages() or ["book/intro.html"]
CHAPTERS = [p for p in PAGES if p.startswith("book/")]


def use_mode(page, mode: str) -> None:
    """Open pages in the theme's light or dark mode (pydata-sphinx-theme reads localStorage 'mode')."""
    page.add_init_script(f"try {{ localStorage.setItem('mode', '{mode}'); localStorage.setItem('theme', '{mode}'); }}"
                         " catch (e) {}")


# Generous timeouts: the pages are audited one after the other in one browser, on machines that may be busy
# (a 2-core CI runner, a laptop building the book); a long chapter takes a minute to load, typeset and audit there.
TIMEOUT_MS = int(float(os.environ.get("KL_BOOK_BROWSER_TIMEOUT", "600")) * 1000)


def open_page(page, url: str) -> None:
    """Load a page and wait until MathJax has typeset it and the widgets have drawn."""
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url, wait_until="load", timeout=TIMEOUT_MS)
    page.wait_for_function(
        "() => !window.MathJax || !MathJax.startup || !MathJax.startup.promise"
        " || MathJax.startup.promise.then(() => true)", timeout=TIMEOUT_MS)
    page.evaluate("() => (window.MathJax && MathJax.startup && MathJax.startup.promise) || null")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.kl-widget')].every(w => w.childElementCount > 0)", timeout=TIMEOUT_MS)


def axe_violations(page) -> list[dict]:
    """axe-core's WCAG 2.1 A/AA violations on the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_TAGS},
                                       "resultTypes": ["violations"]})
    return results.response["violations"]


def _describe(violations) -> str:
    lines = []
    for v in violations:
        targets = ", ".join(" ".join(map(str, n["target"])) for n in v["nodes"][:4])
        lines.append(f"{v['id']} ({v['impact']}, {len(v['nodes'])} elements): {v['help']}; e.g. {targets}")
    return "\n  ".join(lines)


@pytest.mark.parametrize("mode", ["light", "dark"])
@pytest.mark.parametrize("rel", PAGES)
def test_axe_wcag21_aa(loaded_page, rel, mode):
    page = loaded_page(rel, mode)
    assert page.evaluate("document.documentElement.dataset.theme") == mode
    blocking = [v for v in axe_violations(page) if v["impact"] in BLOCKING]
    assert not blocking, f"{rel} ({mode} mode): axe WCAG 2.1 AA violations:\n  " + _describe(blocking)


def test_redirect_page_is_accessible(page, site_url, site_dir):
    """The site's index.html sends the reader to the book's first page at once, and is itself a complete page
    (language, title, a link for browsers that do not follow the refresh). axe audits it with the refresh held
    back (otherwise it would audit the page the refresh leads to)."""
    html = (site_dir / "index.html").read_text(encoding="utf-8")
    delay, target = REFRESH.search(html).groups()
    assert delay == "0", "the redirect must be immediate (WCAG 2.2.1 allows no timed refresh)"
    assert (site_dir / target).exists(), f"index.html redirects to a missing page: {target}"
    held_back = REFRESH.sub("", html)
    page.route(f"{site_url}/index.html", lambda route: route.fulfill(
        status=200, content_type="text/html; charset=utf-8", body=held_back))
    page.goto(f"{site_url}/index.html", wait_until="load", timeout=TIMEOUT_MS)
    assert page.evaluate("document.documentElement.lang"), "index.html has no lang attribute"
    assert page.title().strip(), "index.html has no title"
    assert page.locator(f'a[href="{target}"]').count() == 1, "index.html has no link to the page it redirects to"
    blocking = [v for v in axe_violations(page) if v["impact"] in BLOCKING]
    assert not blocking, "index.html: axe WCAG 2.1 AA violations:\n  " + _describe(blocking)


def test_every_page_is_audited(site_dir):
    assert site_pages(site_dir) == PAGES and len(CHAPTERS) >= 11, "the page list is stale or the site is missing"


IMAGES_JS = """() => [...document.querySelectorAll('article img')].map(img => ({
    src: img.getAttribute('src'), alt: img.getAttribute('alt'),
    output: !!img.closest('.cell_output, .output'),
    decorative: img.getAttribute('role') === 'presentation' || img.getAttribute('aria-hidden') === 'true'}))"""


@pytest.mark.parametrize("rel", CHAPTERS)
def test_figure_alt_text_reaches_the_page(loaded_page, rel):
    page = loaded_page(rel)
    problems = []
    for img in page.evaluate(IMAGES_JS):
        alt = (img["alt"] or "").strip()
        if img["decorative"] and not img["output"]:
            continue
        name = img["src"].rsplit("/", 1)[-1]
        if not alt or alt == name or HASH_NAME.search(alt) or len(alt.split()) < 5:
            problems.append(f"{name}: alt={img['alt']!r}")
    assert not problems, (f"{rel}: images without meaningful alt text (add cell metadata "
                          '{"mystnb": {"image": {"alt": "..."}}} to the figure cell):\n  ' + "\n  ".join(problems))


@pytest.mark.xdist_group("book/playground.html")
def test_math_has_assistive_mathml(loaded_page):
    """Screen readers read the hidden MathML MathJax puts beside each formula (served offline)."""
    page = loaded_page("book/playground.html")
    info = page.evaluate("""() => {
        const boxes = [...document.querySelectorAll('mjx-container')];
        return {n: boxes.length,
                withMml: boxes.filter(b => b.querySelector('mjx-assistive-mml math')).length,
                hiddenVisual: boxes.filter(b => {
                    const c = b.querySelector('mjx-math'); return c && c.getAttribute('aria-hidden') === 'true'; }).length};
    }""")
    assert info["n"] >= 5, info
    assert info["withMml"] == info["n"], f"formulas without assistive MathML: {info}"
    assert info["hiddenVisual"] == info["n"], f"the visual rendering is not hidden from screen readers: {info}"
    assert not page.external_requests


# --- dark mode: figures on a light card, widget text with contrast ------------------------------------

LUMINANCE_JS = """
(() => {
  function parse(c) {
    const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const v = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return [v[0], v[1], v[2], v.length > 3 ? v[3] : 1];
  }
  function lum(rgb) {
    const f = x => { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(rgb[0]) + 0.7152 * f(rgb[1]) + 0.0722 * f(rgb[2]);
  }
  function blend(top, bottom) {  // top over an opaque bottom
    const a = top[3]; return [0, 1, 2].map(i => top[i] * a + bottom[i] * (1 - a)).concat([1]);
  }
  // The opaque colour behind an element: its own background composed over its ancestors' backgrounds.
  function background(el) {
    const layers = [];
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let bg = [255, 255, 255, 1];
    for (let i = layers.length - 1; i >= 0; i--) bg = blend(layers[i], bg);
    return bg;
  }
  function contrast(a, b) { const la = lum(a), lb = lum(b); return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05); }
  window.KLContrast = {parse, lum, blend, background, contrast};
})();
"""


def _dark_page(loaded_page, rel):
    page = loaded_page(rel, "dark")
    page.evaluate(LUMINANCE_JS)
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    return page


FIGURE_PAGES = [p for p in CHAPTERS if p.rsplit("/", 1)[-1] in {"definitions.html", "gaussians.html", "vae.html"}]


@pytest.mark.parametrize("rel", FIGURE_PAGES or CHAPTERS[:1])
def test_dark_mode_figures_on_a_light_card(loaded_page, rel):
    page = _dark_page(loaded_page, rel)
    figs = page.evaluate("""() => [...document.querySelectorAll('.cell_output img')].map(img => {
        const bg = KLContrast.background(img);
        // the image's own pixels at its corners (matplotlib's figure background)
        const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
        const g = c.getContext('2d'); g.drawImage(img, 0, 0);
        const px = [[1, 1], [c.width - 2, 1], [1, c.height - 2], [c.width - 2, c.height - 2]]
            .map(([x, y]) => Array.from(g.getImageData(x, y, 1, 1).data));
        const corners = px.map(p => KLContrast.lum(KLContrast.blend([p[0], p[1], p[2], p[3] / 255], bg)));
        return {src: img.getAttribute('src'), card: KLContrast.lum(bg), corners, filter: getComputedStyle(img).filter};
    })""")
    assert figs, f"{rel}: no figures found"
    for f in figs:
        assert f["card"] > 0.85, f"{rel}: the card behind {f['src']} is dark in dark mode: {f}"
        assert min(f["corners"]) > 0.85, f"{rel}: {f['src']} is not drawn on a light background: {f}"
        assert f["filter"] in ("none", ""), f"{rel}: {f['src']} is dimmed by a CSS filter ({f['filter']})"


WIDGET_TEXT_JS = """() => {
  const out = [];
  for (const el of document.querySelectorAll('.kl-widget *')) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own || el.closest('.kl-visually-hidden, svg')) continue;
    const r = el.getBoundingClientRect(); if (!r.width || !r.height) continue;
    const cs = getComputedStyle(el);
    const fg = KLContrast.parse(cs.color); const bg = KLContrast.background(el);
    const fgo = KLContrast.blend([fg[0], fg[1], fg[2], fg[3] * parseFloat(cs.opacity || 1)], bg);
    out.push({text: el.textContent.trim().slice(0, 30), cls: el.className, ratio: KLContrast.contrast(fgo, bg)});
  }
  // chart tick labels (SVG text, drawn with currentColor and an opacity)
  for (const t of document.querySelectorAll('.kl-widget svg text')) {
    const cs = getComputedStyle(t); const fill = KLContrast.parse(cs.fill) || KLContrast.parse(cs.color);
    const bg = KLContrast.background(t.closest('svg'));
    const op = parseFloat(cs.opacity || 1) * parseFloat(cs.fillOpacity || 1);
    out.push({text: t.textContent.trim().slice(0, 30), cls: 'svg ' + (t.getAttribute('class') || ''),
              ratio: KLContrast.contrast(KLContrast.blend([fill[0], fill[1], fill[2], op], bg), bg)});
  }
  return out;
}"""

WIDGET_MARKS_JS = """() => [...document.querySelectorAll('.kl-widget svg rect, .kl-widget svg path')]
  .filter(e => !e.closest('defs')).map(e => {
    const cs = getComputedStyle(e); const bg = KLContrast.background(e.closest('svg'));
    const col = cs.stroke !== 'none' ? KLContrast.parse(cs.stroke) : KLContrast.parse(cs.fill);
    return {tag: e.tagName, cls: e.getAttribute('class'), ratio: col ? KLContrast.contrast(col, bg) : 99};
  })"""


@pytest.mark.xdist_group("book/playground.html")
@pytest.mark.parametrize("mode", ["light", "dark"])
def test_playground_widgets_keep_contrast(loaded_page, mode):
    page = loaded_page("book/playground.html", mode)
    page.evaluate(LUMINANCE_JS)
    assert page.evaluate("document.documentElement.dataset.theme") == mode
    texts = page.evaluate(WIDGET_TEXT_JS)
    assert len(texts) > 30, texts
    low = [t for t in texts if t["ratio"] < 4.5]
    assert not low, f"widget text below 4.5:1 in {mode} mode: {low[:10]}"
    # the bars and curves of the charts (non-text contrast, WCAG 1.4.11: 3:1)
    marks = [m for m in page.evaluate(WIDGET_MARKS_JS) if m["cls"] not in ("kl-grid", "kl-axis-line")]
    assert marks, "no chart marks found"
    faint = [m for m in marks if m["ratio"] < 3]
    assert not faint, f"chart marks below 3:1 in {mode} mode: {faint[:10]}"


def test_playground_and_listen_by_keyboard_alone(page, site_url):
    """Tab reaches every slider and button of the widgets and of the Listen bar, each with a visible focus ring."""
    open_page(page, f"{site_url}/book/playground.html")
    controls = page.evaluate("""() => [...document.querySelectorAll(
        '.kl-widget input, .kl-widget button, .kl-widget select, .kl-listen button:not([hidden]):not([disabled])')]
        .map((e, i) => { e.dataset.klKbd = i; return i; })""")
    assert len(controls) >= 20, controls
    reached, rings = set(), {}
    page.locator("body").focus()
    for _ in range(len(controls) + 150):
        page.keyboard.press("Tab")
        info = page.evaluate("""() => { const e = document.activeElement; if (!e || e.dataset.klKbd === undefined) return null;
            const cs = getComputedStyle(e);
            return {i: Number(e.dataset.klKbd), ring: parseFloat(cs.outlineWidth) > 0 && cs.outlineStyle !== 'none'}; }""")
        if info:
            reached.add(info["i"])
            rings[info["i"]] = info["ring"]
        if len(reached) == len(controls):
            break
    assert reached == set(controls), f"controls Tab never reaches: {sorted(set(controls) - reached)}"
    assert all(rings.values()), f"controls without a visible focus ring: {[i for i, r in rings.items() if not r]}"


def test_reduced_motion(browser, site_url):
    """With prefers-reduced-motion: reduce, no CSS transition or animation runs and reading does not smooth-scroll."""
    context = browser.new_context(reduced_motion="reduce", service_workers="block")
    try:
        pg = context.new_page()
        pg.goto(f"{site_url}/book/playground.html", wait_until="load", timeout=TIMEOUT_MS)
        moving = pg.evaluate("""() => [...document.querySelectorAll('body *')].filter(e => {
            const cs = getComputedStyle(e);
            const t = cs.transitionDuration.split(',').some(d => parseFloat(d) > 0.01);
            const a = cs.animationName !== 'none' && cs.animationDuration.split(',').some(d => parseFloat(d) > 0.01);
            return t || a; }).map(e => e.tagName + '.' + e.className).slice(0, 10)""")
        assert not moving, f"elements that still animate with reduced motion: {moving}"
        assert pg.evaluate("getComputedStyle(document.documentElement).scrollBehavior") != "smooth"
    finally:
        context.close()


def main() -> None:
    """Print axe's WCAG 2.1 A/AA violations per rule and impact (nodes and pages), light and dark mode."""
    import functools
    import http.server
    import threading

    from playwright.sync_api import sync_playwright

    from conftest import CHROMIUM_ARGS, _QuietHandler, is_loopback  # noqa: E402  (tests/browser is on sys.path)

    handler = functools.partial(_QuietHandler, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    import time

    exe = os.environ.get("KL_BOOK_CHROMIUM", "/usr/bin/chromium")
    start = time.monotonic()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        for mode in ("light", "dark"):
            nodes, pages = Counter(), Counter()
            for rel in PAGES:
                ctx = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
                ctx.route("**/*", lambda r: r.continue_() if is_loopback(r.request.url) else r.abort())
                pg = ctx.new_page()
                use_mode(pg, mode)
                open_page(pg, f"{url}/{rel}")
                for v in axe_violations(pg):
                    nodes[(v["id"], v["impact"])] += len(v["nodes"])
                    pages[(v["id"], v["impact"])] += 1
                ctx.close()
            print(f"\n{mode} mode, {len(PAGES)} pages: rule (impact): elements on pages")
            for key in sorted(nodes, key=lambda k: -nodes[k]):
                print(f"  {key[0]} ({key[1]}): {nodes[key]} elements on {pages[key]} pages")
            if not nodes:
                print("  no violations")
        browser.close()
    print(f"\naudited {len(PAGES)} pages in 2 modes in {time.monotonic() - start:.0f} s")
    server.shutdown()


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
