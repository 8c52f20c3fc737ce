"""Launch and download buttons of the chapter pages, in the built site.

Every chapter (a page built from a notebook) must offer
* a Binder launch link to the chapter's notebook, in the repository and branch of ``_config.yml``;
* a Colab launch link to the same notebook;
* a download link to the ``.ipynb``, which the site serves from ``_sources`` and which is a notebook that
  runs as downloaded: its first code cell installs kllib when it is missing (hidden on the site by the
  ``remove-cell`` tag).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import yaml

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SITE = Path(os.environ.get("KL_BOOK_SITE", ROOT / "_build" / "html"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
REPO_URL = CONFIG["repository"]["url"].rstrip("/")
ORG_REPO = "/".join(urlsplit(REPO_URL).path.strip("/").split("/")[:2])  # "kl-book/kl-book"
BRANCH = CONFIG["repository"].get("branch", "main")
PATH_TO_BOOK = (CONFIG["repository"].get("path_to_book") or "").strip("/")
BINDER = CONFIG["launch_buttons"]["binderhub_url"].rstrip("/")
COLAB = CONFIG["launch_buttons"]["colab_url"].rstrip("/")
INTERFACE = CONFIG["launch_buttons"].get("notebook_interface", "classic")

FIX_HINT = (
    "Jupyter Book 1.x replaces the theme options it builds from `repository:`, `launch_buttons:` and `html:` with "
    "sphinx.config.html_theme_options in _config.yml when that block exists: the block must then carry "
    "repository_url, repository_branch, path_to_docs, launch_buttons and use_download_button itself."
)

LINKS = """() => Array.from(document.querySelectorAll('a[href]')).map(a => ({
    href: a.getAttribute('href'), abs: a.href, title: a.getAttribute('title') || '', text: a.textContent.trim()}))"""


def chapters(site_dir: Path) -> list[str]:
    return sorted(p.stem for p in (site_dir / "_sources" / "book").glob("*.ipynb"))


def repo_path(name: str) -> str:
    """Path of the chapter's notebook inside the repository, as the launch services need it."""
    return "/".join(part for part in (PATH_TO_BOOK, "book", f"{name}.ipynb") if part)


def expected_binder(name: str) -> str:
    target = f"lab/tree/{repo_path(name)}" if INTERFACE == "jupyterlab" else f"tree/{repo_path(name)}"
    return f"{BINDER}/v2/gh/{ORG_REPO}/{BRANCH}?urlpath={target}"


def expected_colab(name: str) -> str:
    return f"{COLAB}/github/{ORG_REPO}/blob/{BRANCH}/{repo_path(name)}"


def test_there_are_chapters(site_dir):
    names = chapters(site_dir)
    assert len(names) >= 3, f"only {names} published as notebooks"
    for name in names:
        assert (ROOT / "book" / f"{name}.ipynb").exists()


@pytest.mark.parametrize("path", [f"/book/{name}.html" for name in chapters(SITE)])
def test_launch_and_download_links(loaded_page, site_url, path):
    name = path.rsplit("/", 1)[-1].removesuffix(".html")
    page = loaded_page(path)  # loaded once for this and the other checks of the page that only read it
    problems = []
    response = page.response
    assert response is not None and response.ok, path
    links = page.evaluate(LINKS)
    hrefs = [link["href"] for link in links]

    binder = [h for h in hrefs if h.startswith(BINDER)]
    colab = [h for h in hrefs if h.startswith(COLAB)]
    if expected_binder(name) not in binder:
        problems.append(f"{path}: Binder link {binder or 'missing'}, expected {expected_binder(name)}")
    if expected_colab(name) not in colab:
        problems.append(f"{path}: Colab link {colab or 'missing'}, expected {expected_colab(name)}")
    # the launch links open the notebook the repository really has
    assert (ROOT / repo_path(name)).exists(), f"{repo_path(name)} is not in the repository"

    downloads = [link for link in links if link["href"].endswith(f"{name}.ipynb") and "_sources" in link["href"]]
    if not downloads:
        problems.append(f"{path}: no download link to {name}.ipynb")
    else:
        problems += check_download(page, site_url, path, name, downloads[0])
    assert page.external_requests == [], f"requests left loopback: {page.external_requests}"
    assert page.console_errors == [], f"console errors: {page.console_errors}"
    hint = "\n" + FIX_HINT if any("Binder link" in p or "Colab link" in p for p in problems) else ""
    assert not problems, "\n".join(problems) + hint


def check_download(page, site_url, path, name, download) -> list[str]:
    """The downloaded .ipynb is served, is a v4 notebook and installs kllib in its first (hidden) code cell."""
    url = download["abs"]
    assert url == urljoin(site_url + path, download["href"])
    served = page.request.get(url)
    if not served.ok:
        return [f"{path}: the download link {download['href']} gives HTTP {served.status}"]
    nb = json.loads(served.body())
    if nb.get("nbformat") != 4:
        return [f"{path}: the downloaded file is not a v4 notebook"]
    # the notebook runs on Colab/Binder as downloaded: its first code cell installs kllib when missing
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    first = "".join(code[0]["source"]) if code else ""
    tags = code[0].get("metadata", {}).get("tags", []) if code else []
    if "import kllib" not in first or "pip install" not in first:
        return [f"{path}: the first code cell of {name}.ipynb does not install kllib: {first[:80]!r}"]
    if "remove-cell" not in tags:
        return [f"{path}: the install cell of {name}.ipynb is not tagged remove-cell (tags {tags})"]
    if "%pip install" in page.locator("article").inner_text():
        return [f"{path}: the install cell shows on the site"]
    return []


def test_launch_menu_is_usable(page, site_url, site_dir):
    """The rocket menu opens and shows both launch buttons; the download menu shows the .ipynb."""
    name = chapters(site_dir)[0]
    page.goto(f"{site_url}/book/{name}.html")
    launch = page.locator('button[aria-label="Launch interactive content"]')
    launch.click()
    binder = page.locator(f'a[href^="{BINDER}"]').first
    colab = page.locator(f'a[href^="{COLAB}"]').first
    binder.wait_for(state="visible", timeout=5_000)
    assert colab.is_visible()
    assert "binder" in (binder.get_attribute("title") or binder.inner_text()).lower()
    assert "colab" in (colab.get_attribute("title") or colab.inner_text()).lower()
    page.keyboard.press("Escape")
    download = page.locator('button[aria-label="Download this page"]')
    download.click()
    ipynb = page.locator(f'a[href$="_sources/book/{name}.ipynb"]').first
    ipynb.wait_for(state="visible", timeout=5_000)
    assert ".ipynb" in ipynb.inner_text()
    assert page.external_requests == [], f"requests left loopback: {page.external_requests}"
    assert page.console_errors == [], f"console errors: {page.console_errors}"
