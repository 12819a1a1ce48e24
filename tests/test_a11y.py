"""Accessibility of the built book: axe-core's WCAG 2.1 A and AA rules on every page, and real alt text on every image.

axe-core is the engine pydata-sphinx-theme (under the book's theme) tests its own pages with; it comes from npm,
pinned in package.json / package-lock.json (`npm ci`, as .ci/run does; a test tool, not served by the book). Each
page of tests/test_browser.py is loaded in the same headless Chromium, its widgets drawn, and axe is run over the
page's main region (the article and its navigation). A serious or critical violation fails the page; the moderate
and minor ones are printed (run pytest with -s, or read the captured output) so they stay visible. The explorers'
controls must have names and take the keyboard's focus, and each explorer announces its result (aria-live).

Every <img> of the built pages must have alt text that is not a file name: the book's figures carry theirs from
nin_book.figures.alt (see tests/test_figure_alt.py); this checks the built HTML itself, without a browser.
"""

from __future__ import annotations

import re
import sys
import types
from html.parser import HTMLParser
from pathlib import Path

import pytest
import test_browser
from test_browser import BUILD, ROOT, WIDGETS_DRAWN_JS, _ensure_fresh_build, _wait_for, book_pages, explorer_pages

# tests/test_browser.py's fixtures: the same headless Chromium and local server (the build made fresh first).
browser_tools, server, driver = test_browser.browser_tools, test_browser.server, test_browser.driver

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
FAILING_IMPACTS = ("serious", "critical")
FILE_NAME = re.compile(r"(^|/)[\w.-]+\.(png|jpe?g|gif|svg|webp)$", re.I)

RUN_AXE_JS = """
const done = arguments[arguments.length - 1];
axe.run(arguments[0], {runOnly: {type: 'tag', values: arguments[1]}, resultTypes: ['violations']})
  .then(r => done({violations: r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                   targets: v.nodes.map(n => n.target.join(' ')).slice(0, 5), count: v.nodes.length}))}),
        e => done({error: String(e)}));
"""


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.is_file():
        pytest.fail(f"{AXE.relative_to(ROOT)} is missing: run `npm ci` (package.json pins axe-core)", pytrace=False)
    return AXE.read_text(encoding="utf-8")


@pytest.mark.parametrize("page", book_pages())
def test_page_has_no_serious_accessibility_violation(page: str, server, driver, axe_source: str) -> None:
    driver.get(server.url + page)
    _wait_for(driver, "return document.readyState === 'complete'", "the page to load")
    _wait_for(driver, WIDGETS_DRAWN_JS, "the widget manager to draw the saved widgets", timeout=30)
    driver.execute_script(axe_source)
    context = "main" if driver.execute_script("return document.querySelector('main') !== null") else "body"
    result = driver.execute_async_script(RUN_AXE_JS, context, WCAG_TAGS)
    assert "error" not in result, f"axe failed on {page}: {result.get('error')}"
    lines = [f"{v['impact']}: {v['id']} ({v['count']} elements): {v['help']}; e.g. {', '.join(v['targets'])}"
             for v in result["violations"]]
    if lines:
        print(f"\n{page}, axe-core WCAG 2.1 A/AA findings:\n  " + "\n  ".join(lines))
    serious = [line for line, v in zip(lines, result["violations"], strict=True) if v["impact"] in FAILING_IMPACTS]
    assert not serious, f"{page}: serious or critical WCAG violations:\n  " + "\n  ".join(serious)


EXPLORER_A11Y_JS = """
return [...document.querySelectorAll('.nin-explorer')].map(root => ({
  kind: root.dataset.explorer,
  status: [...root.querySelectorAll('[role=status][aria-live=polite]')].map(s => s.textContent),
  controls: [...root.querySelectorAll('[data-trait]')].map(c => ({trait: c.dataset.trait, type: c.type,
    name: c.getAttribute('aria-label') || (c.labels && c.labels[0] ? c.labels[0].textContent.trim() : ''),
    focusable: c.tabIndex >= 0 && !c.disabled})),
}));
"""


@pytest.mark.parametrize("page", explorer_pages())
def test_explorer_controls_are_named_and_results_announced(page: str, server, driver) -> None:
    """Every control has a name and takes the keyboard's focus; each explorer has one polite live region that says
    its result, and says the new one after a slider moves (tests/test_browser.py checks the moves' numbers)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(server.url + page)
    _wait_for(driver, WIDGETS_DRAWN_JS, "the widget manager to draw the saved widgets", timeout=30)
    WebDriverWait(driver, 30).until(lambda d: all(e["status"] and e["status"][0] for e in d.execute_script(EXPLORER_A11Y_JS)))
    explorers = driver.execute_script(EXPLORER_A11Y_JS)
    assert explorers, f"{page} has no explorer"
    problems = []
    for i, explorer in enumerate(explorers):
        if len(explorer["status"]) != 1:
            problems.append(f"{explorer['kind']}: {len(explorer['status'])} live regions")
        problems += [f"{explorer['kind']}: control {c['trait']} has no accessible name" for c in explorer["controls"]
                     if not c["name"]]
        problems += [f"{explorer['kind']}: control {c['trait']} cannot take the focus" for c in explorer["controls"]
                     if not c["focusable"]]
        ranges = [j for j, c in enumerate(explorer["controls"]) if c["type"] == "range"]
        if ranges:
            root = driver.find_elements(By.CSS_SELECTOR, ".nin-explorer")[i]
            element = root.find_elements(By.CSS_SELECTOR, "[data-trait]")[ranges[0]]
            before = explorer["status"][0]
            for key in (Keys.ARROW_RIGHT, Keys.ARROW_LEFT, Keys.ARROW_LEFT):  # one of them moves it, wherever it is
                element.send_keys(key)
                if driver.execute_script(EXPLORER_A11Y_JS)[i]["status"][0] != before:
                    break
            else:
                problems.append(f"{explorer['kind']}: moving {explorer['controls'][ranges[0]]['trait']} announced nothing new")
    assert not problems, f"{page}:\n  " + "\n  ".join(problems)


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs))


def _images(path: Path) -> list[dict[str, str | None]]:
    parser = _Images()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.images


@pytest.fixture(scope="module")
def built_book() -> Path:
    _ensure_fresh_build()
    return BUILD


def test_every_image_has_alt_text_that_is_not_a_file_name(built_book: Path) -> None:
    pages = [built_book / page for page in book_pages() if (built_book / page).is_file()]
    assert len(pages) == len(book_pages()), "every page of _toc.yml is built"
    figures, problems = 0, []
    for path in pages:
        for image in _images(path):
            alt, src = (image.get("alt") or "").strip(), image.get("src") or ""
            figure = "_images/" in src
            figures += figure
            # A figure's text says what it shows (a sentence); a logo's may be short, but never a file's name.
            if not alt or FILE_NAME.search(alt) or alt == src or (figure and len(alt.split()) < 5):
                problems.append(f"{path.relative_to(built_book)}: <img src={src!r}> has alt {alt!r}")
    assert figures >= 20, f"only {figures} figures found in the built pages"
    assert not problems, "images without real alt text:\n  " + "\n  ".join(problems)


# --- The Sphinx fixes (_ext/book_a11y.py), without a build ----------------------------------------------------------

def _book_a11y():
    sys.path.insert(0, str(ROOT / "_ext"))
    try:
        import book_a11y
    finally:
        sys.path.remove(str(ROOT / "_ext"))
    return book_a11y


def test_hidden_code_toggle_is_named_by_the_text_it_shows() -> None:
    book_a11y = _book_a11y()
    translator = types.SimpleNamespace(body=["<p>before</p>"])
    node = book_a11y.HideCodeCellNode(classes=["above-input"], prompt_show="Show code cell source",
                                      prompt_hide="Hide code cell source")
    book_a11y.visit_hide_cell(translator, node)
    html = "".join(translator.body)
    assert html.startswith("<p>before</p>") and "<summary>" in html and "aria-label" not in html
    assert "Show code cell source" in html and "Hide code cell source" in html


def test_theme_switcher_override_differs_from_the_themes_only_in_its_icons_titles() -> None:
    """The override copies pydata-sphinx-theme's component: a theme upgrade that changes it shows up here."""
    import pydata_sphinx_theme

    theme = Path(pydata_sphinx_theme.__file__).parent / "theme" / "pydata_sphinx_theme" / "components" / "theme-switcher.html"
    ours = (_book_a11y().TEMPLATES / "theme-switcher.html").read_text()

    def markup(text: str) -> str:
        text = re.sub(r"\{#.*?#\}", "", text, flags=re.S)
        return " ".join(re.sub(r'\s(title="[^"]*"|aria-hidden="true")', "", text).split())

    assert markup(ours) == markup(theme.read_text())
    assert ours.count('aria-hidden="true"') == 3 and not re.search(r"\stitle=", re.sub(r"\{#.*?#\}", "", ours, flags=re.S))


def test_references_are_list_items_of_their_list() -> None:
    context = {"body": '<div role="list" class="citation-list"><div class="citation" id="id2" role="doc-biblioentry">'}
    _book_a11y().fix_citation_roles(None, "chapters/references", "page.html", context, None)
    assert context["body"] == '<div role="list" class="citation-list"><div class="citation" id="id2" role="listitem">'
