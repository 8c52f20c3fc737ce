"""Every page of the built site, in a real browser, with the network cut off.

A page fails when a request leaves loopback, when its math is not typeset (MathJax is served from the site
itself), when an image is broken, when the console shows an error, or when an internal link leads to a
page (or an anchor) that does not exist.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]

SITE = Path(os.environ.get("KL_BOOK_SITE", ROOT / "_build" / "html"))
SKIP_DIRS = {"_static", "_sources", "_images", "_sphinx_design_static", "_panels_static"}


def site_pages() -> list[str]:
    if not SITE.exists():
        return ["<no site built>"]
    pages = []
    for path in sorted(SITE.rglob("*.html")):
        rel = path.relative_to(SITE)
        if rel.parts[0] in SKIP_DIRS:
            continue
        if rel.name == "index.html" and len(rel.parts) == 1:
            continue  # a redirect to book/intro.html, checked below
        pages.append(rel.as_posix())
    return pages


WAIT_FOR_MATH = """
async () => {
  if (!window.MathJax) return {mathjax: false};
  await new Promise(r => { const t = () => (MathJax.startup && MathJax.startup.promise) ? r() : setTimeout(t, 50); t(); });
  await MathJax.startup.promise;
  if (MathJax.typesetPromise) await MathJax.typesetPromise();
  return {mathjax: true};
}
"""

PAGE_FACTS = """
() => {
  const math = document.querySelectorAll('.math, span.math, div.math');
  const typeset = document.querySelectorAll('mjx-container');
  const errors = document.querySelectorAll('mjx-merror, .MathJax_Error');
  const rawTex = Array.from(math).filter(el => !el.querySelector('mjx-container')
        && /\\\\\\(|\\\\\\[|\\$\\$/.test(el.textContent)).length;
  const images = Array.from(document.images).map(img => ({src: img.currentSrc || img.src, ok: img.complete && img.naturalWidth > 0}));
  const links = Array.from(document.querySelectorAll('a[href]')).map(a => a.href);
  return {math: math.length, typeset: typeset.length, errors: errors.length, rawTex, images, links};
}
"""


def _target_exists(url: str, base_url: str) -> str | None:
    """None when the internal link resolves to a file (and anchor) of the site, else a description."""
    parts = urlsplit(url)
    path = unquote(parts.path)
    if path.endswith("/"):
        path += "index.html"
    target = SITE / path.lstrip("/")
    if not target.exists():
        return f"missing page {path}"
    if parts.fragment and target.suffix == ".html":
        frag = unquote(parts.fragment)
        html = target.read_text(encoding="utf-8", errors="replace")
        if f'id="{frag}"' not in html and f'name="{frag}"' not in html:
            return f"missing anchor #{frag} in {path}"
    return None


@pytest.mark.browser
def test_root_redirects_to_intro(page, site_url):
    page.goto(site_url + "/index.html")
    page.wait_for_url(re.compile(r".*/book/intro\.html$"), timeout=10_000)
    assert page.external_requests == []


@pytest.mark.browser
@pytest.mark.parametrize("rel", site_pages())
def test_page_works_offline(loaded_page, site_url, rel):
    assert rel != "<no site built>", f"No built site at {SITE}: run `make book` first."
    page = loaded_page(rel)  # loaded once for this and the other checks of the page that only read it
    response = page.response
    assert response is not None and response.ok, f"{rel}: HTTP {response.status if response else '??'}"
    mj = page.evaluate(WAIT_FOR_MATH)
    facts = page.evaluate(PAGE_FACTS)
    problems = []
    if page.external_requests:
        problems.append(f"requests left loopback: {sorted(set(page.external_requests))[:5]}")
    if facts["math"]:
        if not mj["mathjax"]:
            problems.append(f"{facts['math']} math elements but MathJax did not load")
        elif facts["typeset"] < facts["math"] or facts["rawTex"]:
            problems.append(f"math not typeset: {facts['typeset']} typeset of {facts['math']} ({facts['rawTex']} left as raw TeX)")
        if facts["errors"]:
            problems.append(f"{facts['errors']} MathJax errors (undefined macro?)")
    broken = [img["src"] for img in facts["images"] if not img["ok"]]
    if broken:
        problems.append(f"broken images: {broken[:5]}")
    if page.console_errors:
        problems.append(f"console errors: {page.console_errors[:5]}")
    for link in sorted(set(facts["links"])):
        if link.startswith(site_url):
            why = _target_exists(link[len(site_url):], site_url)
            if why:
                problems.append(f"broken internal link {link[len(site_url):]}: {why}")
    assert not problems, f"{rel}:\n  " + "\n  ".join(problems)
