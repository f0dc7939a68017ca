"""The built site in a real browser: Debian's headless Chromium driven by Selenium.

Run after the build (``tox -e docs`` does both)::

    python -m pytest docs/tests/test_site.py --html-dir docs/_build/html

Every page is served from 127.0.0.1 and loaded; it must log no console error,
every ``<img>`` must have loaded, and every internal link must point at a page
of the site (and at an ``id`` on it when it has a fragment). The search page
must find ``GramSchmidtQuery``. Screenshots of the index, an API page and a
gallery example go to ``--screenshots`` (default ``docs/_build/screenshots``).
Nothing is downloaded: the browser is /usr/bin/chromium with
/usr/bin/chromedriver (``SUBSEL_CHROMIUM``, ``SUBSEL_CHROMEDRIVER`` override).
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import pytest

selenium = pytest.importorskip("selenium")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = os.environ.get("SUBSEL_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SUBSEL_CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--window-size=1366,900",
)
#: Folders of assets, not pages.
NOT_PAGES = {"_static", "_sources", "_images", "_downloads", "_modules", ".doctrees"}
SCREENSHOTS = {
    "index.html": "index.png",
    "api/generated/subsel_plugins.GramSchmidtQuery.html": "api_GramSchmidtQuery.png",
    "auto_examples/plot_01_first_selection.html": "gallery_first_selection.png",
}


@pytest.fixture(scope="session")
def html_dir(request) -> Path:
    path = Path(request.config.getoption("html_dir")).resolve()
    if not (path / "index.html").is_file():
        pytest.fail(f"no built site at {path}: run `tox -e docs` (or sphinx-build) first")
    return path


@pytest.fixture(scope="session")
def server(html_dir):
    handler = functools.partial(QuietHandler, directory=str(html_dir))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def browser():
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists():
            pytest.fail(f"{path} is missing: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def site_pages(html_dir: Path) -> list[str]:
    return sorted(
        p.relative_to(html_dir).as_posix()
        for p in html_dir.rglob("*.html")
        if not NOT_PAGES & set(p.relative_to(html_dir).parts)
    )


@functools.cache
def _ids(path: Path) -> frozenset:
    text = path.read_text(encoding="utf-8", errors="replace")
    return frozenset(re.findall(r'\bid="([^"]+)"', text))


def broken_links(html_dir: Path, base: str, page: str, hrefs: list[str]) -> list[str]:
    """Internal links of ``page`` whose target file (or fragment on it) does not exist."""
    bad = []
    for href in hrefs:
        url = urlparse(urljoin(base + page, href))
        if url.scheme not in ("http", "https") or url.netloc != urlparse(base).netloc:
            continue
        target = html_dir / unquote(url.path.lstrip("/"))
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            bad.append(f"{href} (no file {target.relative_to(html_dir)})")
        elif url.fragment and target.suffix == ".html" and unquote(url.fragment) not in _ids(target):
            bad.append(f"{href} (no id {url.fragment!r} on {target.relative_to(html_dir)})")
    return bad


def test_every_page_loads_cleanly(browser, server, html_dir, screenshot_dir):
    pages = site_pages(html_dir)
    assert len(pages) > 20, pages
    problems = {}
    for page in pages:
        browser.get(server + page)
        WebDriverWait(browser, 30).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
        )
        found = []
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        found += [f"console: {e['message']}" for e in errors]
        images = browser.execute_script(
            "return Array.from(document.images)"
            ".map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0])"
        )
        found += [f"image not loaded: {src}" for src, ok in images if not ok]
        hrefs = browser.execute_script(
            "return Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href'))"
        )
        found += [f"broken link: {b}" for b in broken_links(html_dir, server, page, hrefs)]
        if page in SCREENSHOTS:
            height = browser.execute_script("return document.body.scrollHeight")
            browser.set_window_size(1366, min(max(height, 900), 6000))
            browser.save_screenshot(str(screenshot_dir / SCREENSHOTS[page]))
            browser.set_window_size(1366, 900)
        if found:
            problems[page] = found
    report = "\n".join(f"{p}:\n  " + "\n  ".join(v[:8]) for p, v in problems.items())
    assert not problems, f"{len(problems)} of {len(pages)} pages have problems:\n{report}"
    assert {p for p in SCREENSHOTS} <= set(pages)


def test_search_finds_gram_schmidt_query(browser, server):
    browser.get(server + "search.html?q=GramSchmidtQuery")
    deadline = time.monotonic() + 60
    links = []
    while time.monotonic() < deadline:
        links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#search-results a")]
        if any("subsel_plugins.GramSchmidtQuery" in (h or "") for h in links):
            break
        time.sleep(0.5)
    assert any("subsel_plugins.GramSchmidtQuery.html" in (h or "") for h in links), links
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


@pytest.fixture(scope="session")
def screenshot_dir(request, html_dir) -> Path:
    path = Path(request.config.getoption("screenshots") or html_dir.parent / "screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path
