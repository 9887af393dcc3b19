"""The website, as a reader sees it: built, served on 127.0.0.1 and opened in headless Chromium.

The module builds the book exactly as ``make book`` does (``jupyter-book build book`` with
execution; ``book/_build/.jupyter_cache`` makes a rebuild cheap, a clean clone executes every
chapter once), serves ``book/_build/html`` with :mod:`http.server` on a free port of 127.0.0.1,
and drives ``/usr/bin/chromium`` through the Chrome DevTools Protocol (a websocket, via the
``websocket-client`` package, which jupyterlab's jupyter_server installs). Requests to any
other host are blocked in the browser and reported, so the site is checked as it works
without internet. For every page of the table of contents it asserts

* no JavaScript error: no uncaught exception, no ``console.error``, no failed request;
* math rendered: MathJax output (``mjx-container``) for every math element, none in error;
* on the landing page, the Mermaid flowchart rendered to an SVG (not mermaid's error picture);
* every ``<img>`` loaded (``complete`` and ``naturalWidth > 0``) and has an alt text that is not
  its file name;
* on chapter pages, a download button for the chapter's ``.ipynb`` that the server delivers;
* the sidebar navigates by the parts of ``_toc.yml``;

and saves a screenshot of each page as ``book/_build/screenshots/<page>.png``. Internal links
(``href``/``src`` to files of the site, and their ``#fragments``) are checked from the HTML
files in Python. The site's search is checked by searching for a word.

Without ``/usr/bin/chromium`` (Debian package ``chromium``; ``make install`` installs it when it
can) the browser tests are *skipped* with a message saying so; the link test still runs.
Set ``CAUSALREC_SITE_NO_BUILD=1`` to test an existing ``book/_build/html`` without rebuilding.
"""

from __future__ import annotations

import base64
import functools
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
HTML = BOOK / "_build" / "html"
SCREENSHOTS = BOOK / "_build" / "screenshots"
CHROMIUM = Path(os.environ.get("CAUSALREC_CHROMIUM", "/usr/bin/chromium"))
BUILD_TIMEOUT = 3600      # seconds; a clean clone executes every chapter once
PAGE_TIMEOUT = 60         # seconds for one page to load, typeset its math and draw its diagrams


def toc_pages():
    """Page names in the order of ``_toc.yml`` (root first)."""
    toc = (BOOK / "_toc.yml").read_text(encoding="utf-8")
    root = re.search(r"^root:\s*(\S+)", toc, re.M).group(1)
    return [root, *re.findall(r"file:\s*(\S+)", toc)]


def toc_parts():
    return re.findall(r"caption:\s*(.+?)\s*$", (BOOK / "_toc.yml").read_text(encoding="utf-8"), re.M)


PAGES = toc_pages()
CHAPTERS = [page for page in PAGES if (BOOK / f"{page}.ipynb").exists()]


# ---------------------------------------------------------------------------------------------
# Build and serve


@pytest.fixture(scope="module")
def site():
    """``book/_build/html``, built with execution exactly as ``make book`` builds it."""
    if os.environ.get("CAUSALREC_SITE_NO_BUILD") != "1":
        jb = Path(sys.executable).with_name("jupyter-book")
        result = subprocess.run([str(jb), "build", str(BOOK), "--warningiserror", "--keep-going"],
                                capture_output=True, text=True, timeout=BUILD_TIMEOUT, cwd=ROOT)
        assert result.returncode == 0, "jupyter-book build failed:\n" + result.stdout[-5000:] + result.stderr[-3000:]
    missing = [page for page in PAGES if not (HTML / f"{page}.html").exists()]
    assert not missing, f"pages missing from {HTML}: {missing}"
    return HTML


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


@pytest.fixture(scope="module")
def server(site):
    """Base URL of ``site`` served by :mod:`http.server` on a free port of 127.0.0.1."""
    with _serve(site) as base:
        yield base


class _serve:
    def __init__(self, directory):
        handler = functools.partial(_QuietHandler, directory=str(directory))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


# ---------------------------------------------------------------------------------------------
# A small Chrome DevTools Protocol client


class Browser:
    """Headless Chromium driven over the DevTools Protocol (one websocket, flat sessions)."""

    def __init__(self, executable, profile):
        import websocket  # websocket-client, installed with jupyterlab (jupyter_server)

        args = [str(executable), "--headless=new", "--disable-gpu", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--mute-audio", "--hide-scrollbars",
                "--disable-dev-shm-usage",           # containers often have a tiny /dev/shm
                f"--user-data-dir={profile}", "--remote-debugging-port=0", "--remote-allow-origins=*",
                # Everything but this machine is unreachable: the site must work offline.
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--window-size=1280,900", "about:blank"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.insert(1, "--no-sandbox")          # Chromium refuses to sandbox as root (CI containers)
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        port_file = Path(profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or len(port_file.read_text().splitlines()) < 2:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("Chromium did not start: " + self.process.stderr.read().decode()[-2000:])
            time.sleep(0.1)
        port, path = port_file.read_text().splitlines()[:2]
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=PAGE_TIMEOUT,
                                              suppress_origin=True, enable_multithread=False)
        self._next_id = 0
        self.events = []

    def send(self, method, params=None, session=None, timeout=PAGE_TIMEOUT):
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + timeout
        while True:
            reply = self._receive(deadline, f"{method} timed out")
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def wait_for(self, method, session, timeout=PAGE_TIMEOUT):
        deadline = time.monotonic() + timeout
        while not any(e["method"] == method and e.get("sessionId") == session for e in self.events):
            self._receive(deadline, f"no {method} within {timeout} s")

    def _receive(self, deadline, message):
        import websocket

        self.ws.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            reply = json.loads(self.ws.recv())
        except websocket.WebSocketTimeoutException:
            raise TimeoutError(message) from None
        if "method" in reply:
            self.events.append(reply)
        return reply

    def close(self):
        if getattr(self, "ws", None) is not None:
            try:
                self.ws.close()
            except Exception:  # noqa: BLE001 - closing a dead socket is fine
                pass
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# Runs in the page after its load event: wait for MathJax's first typeset and for mermaid's
# diagrams, make lazy images load, then report what the assertions need.
INSPECT = r"""
(async () => {
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  const start = Date.now(), limit = %(limit)d;
  const hasMath = document.querySelector('.math') !== null;
  if (hasMath) {
    while (!(window.MathJax && MathJax.startup && MathJax.startup.promise) && Date.now() - start < limit) await sleep(100);
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      try { await MathJax.startup.promise; } catch (e) { console.error('MathJax: ' + e); }
    }
  }
  // mermaid may draw a diagram, then clear and redraw it when the theme's colour mode settles:
  // wait until every diagram has held its SVG for one second.
  const diagrams = () => [...document.querySelectorAll('.mermaid')];
  const drawn = () => diagrams().every(d => d.querySelector('svg[aria-roledescription]'));
  let since = null;
  while (Date.now() - start < limit) {
    if (!drawn()) since = null; else if (since === null) since = Date.now(); else if (Date.now() - since > 1000) break;
    await sleep(100);
  }
  document.querySelectorAll('img[loading="lazy"]').forEach(img => { img.loading = 'eager'; });
  await Promise.all([...document.images].map(img => img.complete ? null :
    new Promise(r => { img.addEventListener('load', r); img.addEventListener('error', r); setTimeout(r, 10000); })));
  const math = document.querySelectorAll('span.math, div.math');
  return {
    math: math.length,
    mathRendered: [...math].filter(m => m.querySelector('mjx-container')).length,
    mathErrors: document.querySelectorAll('mjx-merror, [data-mjx-error]').length,
    diagrams: diagrams().length,
    diagramSvgs: diagrams().filter(d => d.querySelector('svg[aria-roledescription^="flowchart"]')).length,
    diagramErrors: diagrams().filter(d => d.querySelector('svg[aria-roledescription="error"]')).length,
    images: [...document.images].map(img => ({src: img.getAttribute('src'), alt: img.getAttribute('alt') || '',
                                              ok: img.complete && img.naturalWidth > 0})),
    downloads: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')).filter(h => /\.ipynb$/.test(h)),
    parts: [...document.querySelectorAll('.bd-sidebar p.caption')].map(c => c.textContent.trim()),
    title: document.title,
  };
})()
"""


def visit(browser, url, screenshot=None, width=1280, height=1000, wait=PAGE_TIMEOUT // 2):
    """Open ``url`` in a new tab; return the page's report and every problem seen.

    ``wait`` is how long, in seconds, to wait for math and diagrams to render.
    """
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    first_event = len(browser.events)
    try:
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.send(f"{domain}.enable", session=session)
        browser.send("Emulation.setDeviceMetricsOverride",
                     {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=session)
        browser.send("Page.navigate", {"url": url}, session=session)
        browser.wait_for("Page.loadEventFired", session)
        result = browser.send("Runtime.evaluate", {"expression": INSPECT % {"limit": wait * 1000},
                                                   "awaitPromise": True, "returnByValue": True},
                              session=session)
        if "exceptionDetails" in result:
            raise RuntimeError(f"inspecting {url} failed: {result['exceptionDetails']}")
        report = result["result"]["value"]
        # Late errors (from scripts still running after the load event) get a moment to arrive.
        browser.send("Runtime.evaluate", {"expression": "new Promise(r => setTimeout(r, 300))",
                                          "awaitPromise": True}, session=session)
        if screenshot is not None:
            shot = browser.send("Page.captureScreenshot", {"format": "png"}, session=session)
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
    finally:
        events = [e for e in browser.events[first_event:] if e.get("sessionId") == session]
        browser.send("Target.closeTarget", {"targetId": target})
    report["problems"] = problems_in(events)
    return report


def problems_in(events):
    """JavaScript errors, console errors, failed requests and requests that left 127.0.0.1."""
    problems, requests = [], {}
    for event in events:
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            problems.append(f"uncaught exception: {text} ({details.get('url', '')}:{details.get('lineNumber')})")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            text = " ".join(str(arg.get("value", arg.get("description", ""))) for arg in params.get("args", []))
            problems.append(f"console.{params['type']}: {text}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error" \
                and not params["entry"].get("url", "").endswith("/favicon.ico"):
            entry = params["entry"]
            problems.append(f"browser log ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}".strip())
        elif method == "Network.requestWillBeSent":
            requests[params["requestId"]] = params["request"]["url"]
            host = urllib.parse.urlsplit(params["request"]["url"]).hostname
            if host not in (None, "127.0.0.1") and not params["request"]["url"].startswith(("data:", "blob:")):
                problems.append(f"request to another host (needs the internet): {params['request']['url']}")
        elif method == "Network.responseReceived" and params["response"]["status"] >= 400 \
                and not params["response"]["url"].endswith("/favicon.ico"):   # asked for by the browser
            problems.append(f"HTTP {params['response']['status']}: {params['response']['url']}")
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            problems.append(f"request failed ({params.get('errorText')}): {requests.get(params['requestId'], '?')}")
    return list(dict.fromkeys(problems))     # a failure is often reported twice (network + log)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: the browser tests of the website are skipped, NOT passed. "
                    "Install Chromium (Debian/Ubuntu: `sudo apt-get install chromium`; `make install` "
                    "does it when run as root) or point CAUSALREC_CHROMIUM at a Chromium binary.")
    pytest.importorskip("websocket", reason="websocket-client is missing (jupyterlab brings it): pip install -e '.[dev]'")
    profile = tempfile.mkdtemp(prefix="causalrec-chromium-")
    chromium = Browser(CHROMIUM, profile)
    try:
        yield chromium
    finally:
        chromium.close()
        shutil.rmtree(profile, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Internal links, from the HTML files


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.targets, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("id", "name"):
            if attrs.get(name):
                self.ids.add(attrs[name])
        for name in ("href", "src"):
            if attrs.get(name) and not (tag == "link" and "preconnect" in (attrs.get("rel") or "")):
                self.targets.append((tag, attrs[name]))


@functools.lru_cache(maxsize=None)
def _parse(path):
    parser = _Links()
    parser.feed(Path(path).read_text(encoding="utf-8", errors="replace"))
    return parser


def broken_links(root, pages):
    """``page: target`` for every internal link of ``pages`` whose file or #fragment is missing."""
    broken = []
    for page in pages:
        path = root / f"{page}.html"
        for tag, target in _parse(path).targets:
            parts = urllib.parse.urlsplit(target)
            if parts.scheme or parts.netloc or target == "#":
                continue                     # another site, data:, mailto:, javascript:, or "#"
            file = (path.parent / urllib.parse.unquote(parts.path)).resolve() if parts.path else path
            if file.is_dir():
                file = file / "index.html"
            if not file.exists():
                broken.append(f"{page}.html: <{tag}> {target} (no such file)")
            elif parts.fragment and file.suffix == ".html" and parts.fragment not in _parse(file).ids:
                broken.append(f"{page}.html: <{tag}> {target} (no id {parts.fragment!r} in {file.name})")
    return broken


def test_link_checker_finds_missing_files_and_fragments(tmp_path):
    (tmp_path / "a.html").write_text('<h1 id="top">A</h1><a href="b.html#there">b</a> <a href="#top">up</a>'
                                     '<a href="https://example.org/x">out</a><img src="img/missing.png">'
                                     '<a href="b.html#nowhere">bad fragment</a><a href="c.html">no file</a>')
    (tmp_path / "b.html").write_text('<p id="there">B</p><a href="a.html">a</a>')
    assert broken_links(tmp_path, ["a", "b"]) == [
        "a.html: <img> img/missing.png (no such file)",
        "a.html: <a> b.html#nowhere (no id 'nowhere' in b.html)",
        "a.html: <a> c.html (no such file)",
    ]


def test_no_broken_internal_links(site):
    pages = [p.relative_to(site).with_suffix("").as_posix() for p in sorted(site.rglob("*.html"))
             if "_static" not in p.parts and "_sources" not in p.parts]
    assert set(PAGES) <= set(pages)
    broken = broken_links(site, pages)
    assert not broken, "broken internal links:\n" + "\n".join(broken)


# ---------------------------------------------------------------------------------------------
# Launch buttons: prepared, commented out, off until the repository is public


def _launch_block():
    """The commented-out launch configuration of ``_config.yml``, uncommented and parsed."""
    import yaml

    lines = (BOOK / "_config.yml").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("# repository:"))
    block = []
    for line in lines[start:]:
        if not line.startswith("# "):
            break
        block.append(line[2:])
    return yaml.safe_load("\n".join(block))


def test_launch_buttons_are_prepared_but_off():
    import yaml

    active = yaml.safe_load((BOOK / "_config.yml").read_text(encoding="utf-8"))
    providers = ("binderhub_url", "colab_url", "jupyterhub_url", "deepnote_url", "jupyterlite_url")
    assert not any((active.get("launch_buttons") or {}).get(key) for key in providers), \
        "launch buttons are on: only once the repository is public (README, 'Reading and launching the book')"
    prepared = _launch_block()
    assert prepared["repository"]["url"].startswith("https://github.com/")
    assert (ROOT / prepared["repository"]["path_to_book"] / "_toc.yml").exists()
    assert prepared["launch_buttons"]["notebook_interface"] in ("classic", "jupyterlab")
    assert prepared["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    assert prepared["launch_buttons"]["colab_url"] == "https://colab.research.google.com"


def test_the_site_has_no_launch_button_that_points_nowhere(site):
    pages = [site / f"{page}.html" for page in PAGES]
    offending = [p.name for p in pages if re.search(r"mybinder\.org|colab\.research\.google\.com",
                                                     p.read_text(encoding="utf-8"))]
    assert not offending, f"launch buttons on {offending} while the repository is not public"


# ---------------------------------------------------------------------------------------------
# The browser checks


def test_browser_check_reports_what_is_broken(browser, tmp_path):
    """The checks themselves: a page with an error, a missing image, a broken diagram and
    unrendered math must produce a problem for each."""
    (tmp_path / "ok.png").write_bytes(base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="))
    (tmp_path / "broken.html").write_text(
        "<html><head><title>broken</title></head><body>"
        '<span class="math">\\(x^2\\)</span><div class="mermaid">graph TD; A--></div>'
        '<img src="ok.png" alt="a dot"><img src="missing.png" alt="nothing">'
        '<script>console.error("on purpose"); throw new Error("boom");</script>'
        '<script src="https://cdn.example.org/lib.js"></script></body></html>')
    with _serve(tmp_path) as base:
        report = visit(browser, base + "broken.html", wait=3)
    problems = "\n".join(report["problems"])
    assert "boom" in problems and "on purpose" in problems
    assert "missing.png" in problems and "cdn.example.org" in problems
    assert report["math"] == 1 and report["mathRendered"] == 0
    assert report["diagrams"] == 1 and report["diagramSvgs"] == 0
    assert [image["ok"] for image in report["images"]] == [True, False]
    assert [_describes(image["alt"]) for image in report["images"]] == [False, False]
    assert _describes("Bar chart of AUC by model") and not _describes("../_images/abc.png")


@pytest.fixture(scope="module")
def reports(browser, server):
    """Each page of the table of contents, visited once; screenshots saved on the way."""
    if SCREENSHOTS.exists():
        shutil.rmtree(SCREENSHOTS)
    return {page: visit(browser, server + f"{page}.html", screenshot=SCREENSHOTS / f"{page}.png")
            for page in PAGES}


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_without_errors(reports, page):
    report = reports[page]
    problems = list(report["problems"])
    if report["math"] and report["mathRendered"] < report["math"]:
        problems.append(f"math: {report['mathRendered']} of {report['math']} formulas rendered by MathJax")
    if report["mathErrors"]:
        problems.append(f"math: {report['mathErrors']} MathJax error(s) (TeX that does not parse)")
    if report["diagrams"] and report["diagramSvgs"] < report["diagrams"] or report["diagramErrors"]:
        problems.append(f"mermaid: {report['diagramSvgs']} of {report['diagrams']} diagrams drawn as SVG")
    problems += [f"image not loaded: {image['src']}" for image in report["images"] if not image["ok"]]
    problems += [f"image without alt text (a screen reader would read {image['alt'] or 'nothing'!r}): {image['src']}"
                 for image in report["images"] if not _describes(image["alt"])]
    assert not problems, f"{page}.html:\n" + "\n".join(problems)
    assert (SCREENSHOTS / f"{page}.png").stat().st_size > 10_000, "screenshot missing or blank"


def _describes(alt):
    """An alt text that describes, rather than being empty or the image's own file name."""
    return len(alt.split()) >= 3 and not re.search(r"_images/|\.(?:png|jpe?g|svg|gif)$", alt.strip())


def test_landing_page_has_the_flowchart_and_part_navigation(reports):
    landing = reports[PAGES[0]]
    assert landing["diagrams"] == 1 and landing["diagramSvgs"] == 1, "the pipeline flowchart is not drawn"
    assert landing["parts"] == toc_parts(), "the sidebar does not list the parts of _toc.yml"


def test_pages_with_math_are_typeset(reports):
    with_math = [page for page in PAGES if reports[page]["math"]]
    assert len(with_math) >= 5, f"expected math on most chapters, found it on {with_math}"
    assert all(reports[page]["mathRendered"] == reports[page]["math"] for page in with_math)


@pytest.mark.parametrize("page", CHAPTERS)
def test_chapter_has_a_working_notebook_download(reports, server, page):
    links = [href for href in reports[page]["downloads"] if href.endswith(f"{page}.ipynb")]
    assert links, f"{page}.html has no download link to {page}.ipynb (html.use_download_button)"
    with urllib.request.urlopen(urllib.parse.urljoin(server + f"{page}.html", links[0]), timeout=30) as response:
        notebook = json.loads(response.read())
    assert notebook["nbformat"] == 4 and notebook["cells"], "the downloaded notebook is empty"


def test_search_finds_a_term(browser, server):
    """Sphinx's search runs in the browser from searchindex.js."""
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    try:
        browser.send("Page.enable", session=session)
        browser.send("Page.navigate", {"url": server + "search.html?q=propensity"}, session=session)
        browser.wait_for("Page.loadEventFired", session)
        result = browser.send("Runtime.evaluate", {"expression": r"""
            (async () => {
              const start = Date.now();
              const hits = () => document.querySelectorAll('#search-results li, ul.search li').length;
              while (hits() === 0 && Date.now() - start < 20000) await new Promise(r => setTimeout(r, 100));
              return [...document.querySelectorAll('#search-results li a, ul.search li a')]
                       .map(a => a.getAttribute('href'));
            })()""", "awaitPromise": True, "returnByValue": True}, session=session)
    finally:
        browser.send("Target.closeTarget", {"targetId": target})
    hits = result["result"]["value"]
    assert any("09_debiasing" in hit or "glossary" in hit for hit in hits), f"search for 'propensity' found {hits}"
