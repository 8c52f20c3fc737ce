"""Site-wide additions to the book: the reader features served from ``_static``.

Loaded by ``_config.yml`` (``sphinx.local_extensions``). Everything here is served
from the site itself, so the book works offline.

Every ``_static/*.css`` and ``_static/*.js`` is added to every page, the scripts with
``defer`` (they run once the page is parsed, in file-name order):

* ``kl-widgets.js`` renders the interactive widgets (``<div class="kl-widget" data-widget=...>``);
* ``kl-read-aloud.js`` adds the *listen* button (browser speech synthesis);
* ``kl-a11y.css`` fixes the theme for WCAG 2.1 AA (contrast, dark-mode figures, reduced motion);
* ``kl-a11y.js`` makes the page's scrollable regions focusable (keyboard scrolling, WCAG 2.1.1).

Pages get ARIA list items for their bibliography entries (see ``_citation_list_items``).

The site's ``index.html`` (the root folder's page, which sends the reader to the book's first page) is a
complete, accessible page: a language, a title, and a link for browsers that do not follow the redirect.
Jupyter Book 1.x (sphinx-external-toc) writes a bare ``<meta http-equiv="Refresh">`` line there, which has
neither and fails the WCAG checks ``html-has-lang`` and ``document-title``.

For the PDF edition (LaTeX builder) it writes the book's MathJax macros into the LaTeX preamble.

Jupyter Book 1.x also puts every file of ``_static`` into ``html_js_files`` and
``html_css_files`` (synchronous, in ``<head>``); this extension replaces those entries so
that each file is loaded exactly once.
"""
from pathlib import Path

HERE = Path(__file__).resolve().parent
STATIC = HERE.parent / "_static"


def _name(entry):
    """The file name of an ``html_js_files``/``html_css_files`` entry (a string or a (name, attrs) tuple)."""
    return entry[0] if isinstance(entry, (tuple, list)) else entry


def _own_static_files(app, config):
    ours_js = [p.name for p in sorted(STATIC.glob("*.js"))]
    ours_css = [p.name for p in sorted(STATIC.glob("*.css"))]
    config.html_js_files = [e for e in config.html_js_files if _name(e) not in ours_js]
    config.html_css_files = [e for e in config.html_css_files if _name(e) not in ours_css]
    for css in ours_css:
        app.add_css_file(css)
    for js in ours_js:
        app.add_js_file(js, defer="defer")


def latex_macros(mathjax3_config) -> str:
    """The book's MathJax macros (``mathjax3_config.tex.macros``) as LaTeX definitions, for the PDF edition.

    ``\\providecommand`` then ``\\renewcommand``: a macro that LaTeX or a package already defines is replaced by the
    book's meaning, and one that does not exist is created.
    """
    macros = ((mathjax3_config or {}).get("tex") or {}).get("macros") or {}
    lines = []
    for name, body in macros.items():
        text, nargs = (body[0], int(body[1])) if isinstance(body, (list, tuple)) else (body, 0)
        args = f"[{nargs}]" if nargs else ""
        lines.append(f"\\providecommand{{\\{name}}}{{}}\\renewcommand{{\\{name}}}{args}{{{text}}}")
    return "\n".join(lines)


def _latex_setup(app, config):
    """PDF edition: the book's math macros in the LaTeX preamble, so that one definition serves both outputs."""
    elements = dict(config.latex_elements or {})
    macros = latex_macros(config.mathjax3_config)
    if macros and macros not in elements.get("preamble", ""):
        elements["preamble"] = elements.get("preamble", "") + "\n% The book's macros (from mathjax3_config)\n" + macros + "\n"
    config.latex_elements = elements


def _drop_duplicate_scripts(app, pagename, templatename, context, doctree):
    """Drop repeated inline scripts from a page.

    With Jupyter Book 1.0.4 / Sphinx 7.4, sphinx-thebe's and sphinx-togglebutton's inline configuration
    scripts end up twice on every page; the second ``const THEBE_JS_URL = ...`` is a SyntaxError in the
    console. Identical script entries (same file or body, same attributes) are kept once.
    """
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen, kept = set(), []
    for js in scripts:
        # one copy has filename None, the other "": compare them as equal
        key = (getattr(js, "filename", js) or "", tuple(sorted(getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(js)
    scripts[:] = kept


def _citation_list_items(app, pagename, templatename, context, doctree):
    """Bibliography entries as ARIA list items.

    docutils writes the bibliography as ``<div role="list" class="citation-list">`` holding
    ``<div class="citation" role="doc-biblioentry">`` entries. ARIA 1.2 deprecates ``doc-biblioentry``; axe-core
    then no longer counts the entries as the list's items and reports the list as a critical
    ``aria-required-children`` violation (its links become the list's children) plus a deprecated role on every
    entry. ``listitem`` is the role a list's entries must have.
    """
    body = context.get("body")
    if isinstance(body, str) and 'role="doc-biblioentry"' in body:
        context["body"] = body.replace('role="doc-biblioentry"', 'role="listitem"')


REDIRECT_PAGE = """<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Refresh" content="0; url={url}">
<title>{title}</title>
</head>
<body>
<main>
<p>The book starts at <a href="{url}">{title}</a>.</p>
</main>
</body>
</html>
"""


def _root_redirect_page(app, exception):
    """Write ``index.html``: an accessible page that redirects to the book's root page (HTML builds only)."""
    if exception is not None or app.builder.name != "html" or app.config.root_doc == "index":
        return
    from html import escape

    url = app.builder.get_target_uri(app.config.root_doc)
    title = escape(app.config.html_title or app.config.project or "The book")
    lang = escape(app.config.language or "en")
    page = REDIRECT_PAGE.format(lang=lang, url=escape(url, quote=True), title=title)
    (Path(app.outdir) / "index.html").write_text(page, encoding="utf-8")


def setup(app):
    # Jupyter Book adds the book's _static already; add it only when it is missing (plain Sphinx).
    paths = [(Path(app.srcdir) / p).resolve() for p in app.config.html_static_path]
    if STATIC not in paths:
        app.config.html_static_path.append(str(STATIC))
    app.connect("config-inited", _own_static_files)
    app.connect("config-inited", _latex_setup)
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    app.connect("html-page-context", _citation_list_items)
    # Before sphinx-external-toc's handler (priority 500), which leaves an existing index.html alone.
    app.connect("build-finished", _root_redirect_page, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
