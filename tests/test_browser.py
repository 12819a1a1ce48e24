"""The HTML book as a reader sees it: every page loaded in headless Chromium, from localhost, with no internet.

Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them; without them these tests skip and
say so). The book in `_build/html` is the one `jupyter-book build . --warningiserror --keep-going` made; if
it is missing or older than any source (chapters, nin_book, configuration), it is rebuilt here first.

Each page must load with no JavaScript console error and no failed request; every request must stay on
localhost (the book works offline); every image must decode; every internal link must lead to an existing
page and anchor; math must be typeset by MathJax; no code cell may scroll sideways in a 1400 px wide window;
saved widgets must be drawn by the widget manager; each
chapter page must carry the Colab launch button for the repository and branch in _config.yml.
A screenshot of each page is saved outside the repository: under $NIN_BOOK_SCREENSHOTS if set, else in
pytest's temporary folder (its path is printed).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build" / "html"
# What the book is built from (folder, file pattern): a change to any of these makes _build/html stale.
SOURCES = (("chapters", "*.ipynb"), ("chapters", "*.md"), ("nin_book", "*.py"), ("nin_book", "*.mjs"), ("_ext", "*.py"),
           ("_ext", "*.html"), ("_extra", "*"),
           (".", "_config.yml"), (".", "_toc.yml"), (".", "references.bib"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
PAGE_TIMEOUT_S = 60
# The flags this machine's Chromium needs headless as root, and no background traffic of its own; the host
# resolver rule makes every host but 127.0.0.1 (where the book is served) unresolvable, so a page that needs
# the internet fails here even on a machine that has it.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1400,900", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)


def _config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def _toc_files() -> list[str]:
    """Every document of the book, in reading order, from _toc.yml (root first)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries: list[dict]) -> None:
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            for key in ("parts", "chapters", "sections"):
                walk(entry.get(key, []))

    walk([toc])
    return files


def book_pages() -> list[str]:
    """The pages a reader can open: one per document, the index redirect, the general index and search."""
    return ["index.html"] + [f"{doc}.html" for doc in _toc_files()] + ["genindex.html", "search.html"]


def _source_of(page: str) -> Path | None:
    for suffix in (".ipynb", ".md"):
        path = ROOT / page.removesuffix(".html")
        if path.with_suffix(suffix).exists():
            return path.with_suffix(suffix)
    return None


def _newest_source_mtime() -> tuple[float, Path]:
    newest = (0.0, ROOT)
    for folder, pattern in SOURCES:
        for path in (ROOT / folder).rglob(pattern) if folder != "." else [ROOT / pattern]:
            if path.is_file() and ".ipynb_checkpoints" not in path.parts:
                newest = max(newest, (path.stat().st_mtime, path))
    return newest


def _ensure_fresh_build() -> None:
    """Use the build from `jupyter-book build` if it is newer than every source; otherwise build it now."""
    stamp = BUILD / ".buildinfo"  # Sphinx rewrites it at the end of every build
    newest, newest_path = _newest_source_mtime()
    if stamp.exists() and stamp.stat().st_mtime >= newest:
        return
    reason = "no book in _build/html" if not stamp.exists() else f"{newest_path.relative_to(ROOT)} changed since the last build"
    print(f"\n{reason}: building the book (executes every chapter) ...", flush=True)
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    command = [str(jupyter_book if jupyter_book.exists() else shutil.which("jupyter-book") or "jupyter-book"),
               "build", ".", "--all", "--warningiserror", "--keep-going"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"`{' '.join(command[1:])}` failed:\n{(result.stdout + result.stderr)[-6000:]}", pytrace=False)


class _IdCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "id" or (tag == "a" and name == "name"):
                self.ids.add(value or "")


@functools.cache
def _anchors(path: Path) -> frozenset[str]:
    collector = _IdCollector()
    collector.feed(path.read_text(encoding="utf-8"))
    return frozenset(collector.ids)


class _Server:
    """The built book on http://127.0.0.1:<free port>/, remembering every request and its status."""

    def __init__(self, directory: Path) -> None:
        self.requests: list[tuple[str, int]] = []
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs) -> None:
                super().__init__(*args, directory=str(directory), **kwargs)

            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                server.requests.append((self.path, int(code) if str(code).isdigit() else 0))

            def log_message(self, format: str, *args) -> None:  # keep pytest's output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def browser_tools() -> tuple[str, str]:
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and chromedriver):
        pytest.skip("headless Chromium is not installed: `apt-get install chromium chromium-driver` (.ci/run does this)")
    return chromium, chromedriver


@pytest.fixture(scope="module")
def server(browser_tools: tuple[str, str]) -> Iterator[_Server]:
    _ensure_fresh_build()
    with _Server(BUILD) as running:
        yield running


@pytest.fixture(scope="module")
def driver(browser_tools: tuple[str, str], tmp_path_factory: pytest.TempPathFactory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = browser_tools
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    # An explicit driver path: Selenium then never tries to download a driver or a browser.
    browser = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    browser.set_page_load_timeout(PAGE_TIMEOUT_S)
    browser.set_script_timeout(PAGE_TIMEOUT_S)
    browser.get("about:blank")  # leave the browser's own start page, which tries to reach the internet
    yield browser
    browser.quit()


def _wait_for(driver, script: str, what: str, timeout: float = PAGE_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not driver.execute_script(script):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def _wait_until_quiet(driver, quiet_s: float = 0.5, timeout: float = 10.0) -> None:
    """Wait until the page has started no new request for ``quiet_s`` seconds (a condition, not a fixed sleep)."""
    count = "return performance.getEntriesByType('resource').length"
    deadline, last, since = time.monotonic() + timeout, driver.execute_script(count), time.monotonic()
    while time.monotonic() - since < quiet_s and time.monotonic() < deadline:
        time.sleep(0.1)
        now = driver.execute_script(count)
        if now != last:
            last, since = now, time.monotonic()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where page screenshots go: $NIN_BOOK_SCREENSHOTS, else a pytest temporary folder; never the repository."""
    configured = os.environ.get("NIN_BOOK_SCREENSHOTS")
    folder = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    print(f"\nscreenshots: {folder}", flush=True)
    return folder


def _screenshot(driver, page: str, folder: Path) -> Path:
    """The whole page (up to 12,000 px tall), through the DevTools protocol."""
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 12000), "scale": 1}
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip})
    path = folder / (page.removesuffix(".html").replace("/", "__") + ".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def _network_events(driver, origin: str) -> tuple[list[str], list[str]]:
    """URLs the page requested, and those whose loading failed, from Chromium's performance log.

    Only requests made for a document of the book count: the browser's own start page also fetches things.
    """
    requested, failed, ours = [], [], {}
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if url.startswith(origin + "/") or params.get("documentURL", "").startswith(origin + "/"):
                ours[params["requestId"]] = url
                requested.append(url)
        elif message["method"] == "Network.loadingFailed" and params["requestId"] in ours and not params.get("canceled"):
            failed.append(f"{ours[params['requestId']]} ({params.get('errorText')})")
    return requested, failed


def _stays_local(url: str, origin: str) -> bool:
    """A request that needs no network: to the book's server, or not a network request at all (data:, blob:,
    and chrome: for the browser's own start page)."""
    return url.startswith(origin + "/") or url.split(":", 1)[0] not in ("http", "https", "ws", "wss", "ftp")


def _broken_links(hrefs: list[str], origin: str) -> list[str]:
    broken = []
    for href in hrefs:
        if not href.startswith(origin):
            continue  # external links (launch buttons, papers) are just links: the test does not follow them
        parts = urlsplit(href)
        target = BUILD / unquote(parts.path).lstrip("/")
        if parts.path.endswith("/"):
            target = target / "index.html"
        if not target.is_file():
            broken.append(f"{href} (no file {target.relative_to(BUILD)})")
        elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in _anchors(target):
            broken.append(f"{href} (no anchor #{parts.fragment} in {target.relative_to(BUILD)})")
    return broken


def _stored_widget_views(source: Path | None) -> int:
    """How many widget views the chapter's saved outputs show (0 for Markdown pages)."""
    if source is None or source.suffix != ".ipynb":
        return 0
    nb = nbformat.read(source, as_version=4)
    return sum(WIDGET_VIEW in output.get("data", {}) for cell in nb.cells for output in cell.get("outputs", []))


# The page state the checks need, read in one go once the page has settled.
PAGE_STATE_JS = """
const views = [...document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')];
return {
  hrefs: [...document.querySelectorAll('a[href]')].map(a => a.href),
  badImages: [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.currentSrc || i.src),
  images: document.images.length,
  mathSource: document.querySelectorAll('.math').length,
  mathRendered: document.querySelectorAll('mjx-container').length,
  mathErrors: [...document.querySelectorAll('mjx-merror')].map(e => e.textContent),
  // Code cells whose code is wider than their block: a reader would have to scroll sideways.
  wideCode: [...document.querySelectorAll('.cell_input pre')].filter(p => p.scrollWidth > p.clientWidth + 1)
    .map(p => p.textContent.split(String.fromCharCode(10))
      .reduce((a, b) => (b.length > a.length ? b : a), '').trim().slice(0, 60)),
  widgetViews: views.length,
  widgetState: document.querySelectorAll('script[type="application/vnd.jupyter.widget-state+json"]').length,
  widgetsDrawn: views.filter(v => {
    const area = v.previousElementSibling;
    // ipywidgets draw '.jupyter-widgets' elements; the book's explorers (anywidgets) draw '.nin-explorer'.
    return area && area.classList.contains('widget-subarea') && area.querySelector('.jupyter-widgets, .nin-explorer')
      && !area.textContent.includes('Error displaying widget') && !area.querySelector('.jupyter-widgets-error-widget');
  }).length,
};
"""

# Wait until every saved widget view has a drawn widget in front of it (the embed manager renders asynchronously).
WIDGETS_DRAWN_JS = """
const views = [...document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')];
return views.every(v => v.previousElementSibling && v.previousElementSibling.classList.contains('widget-subarea')
                        && (v.previousElementSibling.querySelector('.jupyter-widgets, .nin-explorer')
                            || v.previousElementSibling.textContent.includes('Error displaying widget')));
"""


@pytest.mark.parametrize("page", book_pages())
def test_page_in_browser(page: str, server: _Server, driver, screenshots: Path) -> None:
    driver.get_log("browser"), driver.get_log("performance")  # drop what the previous page left
    first_request = len(server.requests)
    driver.get(server.url + page)
    _wait_for(driver, "return document.readyState === 'complete'", "the page to load")
    # Lazily loaded images load only when scrolled to; load them all now.
    driver.execute_script("document.querySelectorAll('img[loading=lazy]').forEach(i => i.loading = 'eager')")
    _wait_for(driver, "return [...document.images].every(i => i.complete)", "the images to load")
    problems: list[str] = []
    if driver.execute_script("return document.querySelector('.math') !== null"):
        ready = driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "if (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) { done(false); return; }"
            "MathJax.startup.promise.then(() => done(true), () => done(false));")
        if not ready:
            problems.append("the page has math but MathJax did not load or failed")
    try:
        _wait_for(driver, WIDGETS_DRAWN_JS, "the widget manager to draw the saved widgets", timeout=30)
    except AssertionError as err:
        problems.append(str(err))
    _wait_until_quiet(driver)  # late requests and console messages arrive before the page is judged
    state = driver.execute_script(PAGE_STATE_JS)
    shot = _screenshot(driver, page, screenshots)

    console = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    origin = server.url.rstrip("/")
    requested, failed = _network_events(driver, origin)
    problems += [f"console error: {message}" for message in console]
    problems += [f"request leaves localhost: {url}" for url in requested if not _stays_local(url, origin)]
    problems += [f"request failed: {failure}" for failure in failed]
    problems += [f"server answered {status} for {path}" for path, status in server.requests[first_request:] if status >= 400]
    problems += [f"image did not load: {src}" for src in state["badImages"]]
    problems += [f"broken internal link: {link}" for link in _broken_links(state["hrefs"], origin)]
    if state["mathSource"] and state["mathRendered"] < state["mathSource"]:
        problems.append(f"MathJax typeset {state['mathRendered']} of {state['mathSource']} math elements")
    problems += [f"MathJax error: {text}" for text in state["mathErrors"]]
    problems += [f"code cell scrolls sideways at 1400 px: {line!r}" for line in state["wideCode"]]

    source = _source_of(page)
    stored_views = _stored_widget_views(source)
    if stored_views and not state["widgetViews"]:
        problems.append(f"{source.name} shows {stored_views} widget(s) but the page has none: was the widget state saved?")
    if state["widgetViews"]:
        if not state["widgetState"]:
            problems.append("the page shows widgets but carries no saved widget state")
        if state["widgetsDrawn"] < state["widgetViews"]:
            problems.append(f"only {state['widgetsDrawn']} of {state['widgetViews']} saved widgets were drawn")

    if source is not None and source.suffix == ".ipynb":
        config = _config()
        repo = config["repository"]["url"].removeprefix("https://github.com/")
        colab = (f"{config['launch_buttons']['colab_url']}/github/{repo}/blob/{config['repository']['branch']}/"
                 f"{source.relative_to(ROOT).as_posix()}")
        if colab not in state["hrefs"]:
            problems.append(f"no Colab launch button linking to {colab}")

    assert not problems, f"{page} (screenshot {shot}):\n  " + "\n  ".join(problems)


# --- The explorers: moved with the keyboard, answering with Python's numbers -----------------------------------

EXPLORER_STATE_JS = """
const roots = [...document.querySelectorAll('.nin-explorer')];
const pick = (root) => ({
  kind: root.dataset.explorer, renders: Number(root.dataset.renders),
  data: Object.fromEntries([...root.attributes].filter(a => a.name.startsWith('data-')
      && !['data-explorer', 'data-renders'].includes(a.name)).map(a => [a.name.slice(5), a.value])),
  controls: [...root.querySelectorAll('[data-trait]')].map(c => ({trait: c.dataset.trait, type: c.type,
      value: c.type === 'checkbox' ? c.checked : Number(c.value), min: Number(c.min), max: Number(c.max), step: Number(c.step)})),
});
return arguments.length ? pick(roots[arguments[0]]) : roots.map(pick);
"""


def _explorer_classes() -> dict[str, type]:
    from nin_book.widgets.blocks import NinBlockExplorer, OneByOneExplorer
    from nin_book.widgets.compare import CompareExplorer
    from nin_book.widgets.design import DesignExplorer
    from nin_book.widgets.network import NetworkExplorer
    from nin_book.widgets.tracing import TraceExplorer

    return {"one-by-one": OneByOneExplorer, "nin-block": NinBlockExplorer, "trace": TraceExplorer, "compare": CompareExplorer,
            "design": DesignExplorer, "network": NetworkExplorer}


def _saved_explorers(source: Path) -> int:
    """How many of the book's explorers a chapter's saved widget state holds."""
    state = nbformat.read(source, as_version=4).metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    return sum(str(m["state"].get("_anywidget_id", "")).startswith("nin_book.widgets.") for m in state.get("state", {}).values())


def explorer_pages() -> list[str]:
    return [page for page in book_pages() if (src := _source_of(page)) is not None and src.suffix == ".ipynb"
            and _saved_explorers(src)]


def _python_view(view: dict) -> dict[str, str]:
    """What Python's functions give for the settings the view's controls now show."""
    settings = {c["trait"]: c["value"] if c["type"] == "checkbox" else (int(c["value"]) if float(c["step"]).is_integer()
                else float(c["value"])) for c in view["controls"]}
    return _explorer_classes()[view["kind"]](**settings).view_data()


def _exercise_explorers(driver, expected_count: int) -> list[str]:
    """Move every slider of every explorer on the open page one step with the keyboard; return what went wrong."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 60).until(lambda d: len([v for v in d.execute_script(EXPLORER_STATE_JS) if v["renders"] >= 1])
                                    == expected_count)
    problems = []
    for i, view in enumerate(driver.execute_script(EXPLORER_STATE_JS)):
        if view["data"] != _python_view(view):
            problems.append(f"{view['kind']} at its opening setting shows {view['data']}, Python gives {_python_view(view)}")
        changed = 0
        for j, control in enumerate(view["controls"]):
            if control["type"] != "range":
                continue
            before = driver.execute_script(EXPLORER_STATE_JS, i)
            element = driver.find_elements(By.CSS_SELECTOR, ".nin-explorer")[i].find_elements(By.CSS_SELECTOR, "[data-trait]")[j]
            element.send_keys(Keys.ARROW_LEFT if control["value"] >= control["max"] else Keys.ARROW_RIGHT)
            WebDriverWait(driver, 10).until(
                lambda d, i=i, n=before["renders"]: d.execute_script(EXPLORER_STATE_JS, i)["renders"] > n)
            after = driver.execute_script(EXPLORER_STATE_JS, i)
            moved = after["controls"][j]["value"]
            if moved == before["controls"][j]["value"]:
                problems.append(f"{view['kind']}: the {control['trait']} slider did not move")
            expected = _python_view(after)
            if after["data"] != expected:
                problems.append(f"{view['kind']} with {control['trait']} = {moved}: view {after['data']}, Python {expected}")
            changed += after["data"] != before["data"]
        if not changed:
            problems.append(f"{view['kind']}: no slider move changed the view's numbers")
    return problems


def _console_errors(driver) -> list[str]:
    return [f"console error: {e['message']}" for e in driver.get_log("browser") if e["level"] == "SEVERE"]


@pytest.mark.parametrize("page", explorer_pages())
def test_explorers_answer_slider_moves(page: str, server: _Server, driver) -> None:
    """Over http://: each slider moved with the keyboard, the view's numbers equal Python's, no console errors."""
    driver.get_log("browser"), driver.get_log("performance")
    driver.get(server.url + page)
    problems = _exercise_explorers(driver, _saved_explorers(_source_of(page)))
    problems += _console_errors(driver)
    origin = server.url.rstrip("/")
    requested, _ = _network_events(driver, origin)
    problems += [f"request leaves localhost: {url}" for url in requested if not _stays_local(url, origin)]
    assert not problems, f"{page}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("page", explorer_pages())
def test_explorers_answer_over_file_url(page: str, server: _Server, driver) -> None:
    """Every explorer page opened as a file (no server at all): the explorers still load and answer."""
    driver.get_log("browser"), driver.get_log("performance")
    driver.get((BUILD / page).as_uri())
    problems = _exercise_explorers(driver, _saved_explorers(_source_of(page)))
    problems += _console_errors(driver)
    requested, _ = _network_events(driver, "file://")
    problems += [f"request leaves the machine: {url}" for url in requested if url.split(":", 1)[0] in ("http", "https")]
    assert not problems, f"{page} over file://:\n  " + "\n  ".join(problems)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The notebook JupyterLab has open, once its kernel is idle (exposed by --LabApp.expose_app_in_browser).
LAB_KERNEL_IDLE_JS = """
const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
const kernel = panel && panel.sessionContext && panel.sessionContext.session && panel.sessionContext.session.kernel;
return !!kernel && kernel.status === 'idle' && kernel.connectionStatus === 'connected';
"""

LAB_ASK_KERNEL_JS = """
const [code, done] = [arguments[0], arguments[arguments.length - 1]];
const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
let out = '';
const future = kernel.requestExecute({code});
future.onIOPub = (msg) => { if (msg.header.msg_type === 'stream') out += msg.content.text; };
future.done.then(() => done(out), (err) => done('error: ' + err));
"""


@contextlib.contextmanager
def jupyterlab_notebook(driver, tmp_path: Path, source: str) -> Iterator:
    """A JupyterLab server on 127.0.0.1 (README's `jupyter lab` path) with a notebook of one cell, ``source``, opened
    in ``driver`` and run; yields a long wait (the kernel imports torch: slow on a busy machine). Skips the test
    when JupyterLab is not installed; stops the server afterwards."""
    from selenium.webdriver.support.ui import WebDriverWait

    jupyter = Path(sys.executable).with_name("jupyter")
    if not (jupyter.exists() or shutil.which("jupyter")) or subprocess.run(
            [str(jupyter if jupyter.exists() else "jupyter"), "lab", "--version"], capture_output=True).returncode:
        pytest.skip("JupyterLab is not installed: pip install -r requirements.txt")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})  # no kernel dialog
    nbformat.write(nb, tmp_path / "explore.ipynb")
    port, token = _free_port(), "nin-book-test"
    command = [str(jupyter if jupyter.exists() else "jupyter"), "lab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}",
               "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    log = (tmp_path / "lab.log").open("w")
    lab = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        base = f"http://127.0.0.1:{port}"
        driver.get("about:blank")
        deadline = time.monotonic() + 90
        while True:  # the server answers its status API once it is up
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or lab.poll() is not None:
                    pytest.fail(f"JupyterLab did not start:\n{(tmp_path / 'lab.log').read_text()[-3000:]}")
                time.sleep(0.5)
        driver.get(f"{base}/lab/tree/explore.ipynb?token={token}")
        wait = WebDriverWait(driver, 180)
        wait.until(lambda d: d.execute_script(LAB_KERNEL_IDLE_JS))
        driver.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        yield wait
    finally:
        # Leave JupyterLab before stopping it, and drop what leaving logs (its beforeunload prompt is blocked with
        # a console error): the module's browser is shared, and the next page test must not inherit that message.
        driver.get("about:blank")
        driver.get_log("browser"), driver.get_log("performance")
        lab.terminate()
        try:
            lab.wait(timeout=20)
        except subprocess.TimeoutExpired:
            lab.kill()
        log.close()


def test_explorer_in_jupyterlab(browser_tools: tuple[str, str], driver, tmp_path: Path) -> None:
    """README's `jupyter lab` path, live: a JupyterLab server on 127.0.0.1 with a kernel; a slider moved in the
    browser redraws the view with Python's numbers and reaches the kernel's widget."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    from nin_book.widgets.blocks import NinBlockExplorer

    source = "from nin_book.widgets.blocks import nin_block_explorer\nexplorer = nin_block_explorer()\nexplorer"
    with jupyterlab_notebook(driver, tmp_path, source) as wait:
        wait.until(lambda d: d.execute_script("return document.querySelector('.nin-explorer[data-renders]') !== null"))
        slider = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, ".nin-explorer input[data-trait=kernel]"))
        # With the keyboard, as a reader moves it: JupyterLab must leave a focused slider its arrow keys.
        driver.execute_script("arguments[0].focus()", slider)  # a click would jump the slider to where it lands
        slider.send_keys(Keys.ARROW_LEFT)
        WebDriverWait(driver, 30).until(lambda d: d.execute_script(EXPLORER_STATE_JS, 0)["controls"][0]["value"] == 10)
        view = driver.execute_script(EXPLORER_STATE_JS, 0)
        expected = _python_view(view)
        assert expected == NinBlockExplorer(kernel=10).view_data()
        # Kernel 11 and 10 both give 54×54 maps: wait for the whole view, not one number.
        WebDriverWait(driver, 30).until(lambda d: d.execute_script(EXPLORER_STATE_JS, 0)["data"] == expected)
        # The slider's value reached the kernel's widget: the Python side now computes the same view.
        question = f"print(explorer.kernel, explorer.view_data() == {expected!r})"
        assert driver.execute_async_script(LAB_ASK_KERNEL_JS, question).strip() == "10 True"
