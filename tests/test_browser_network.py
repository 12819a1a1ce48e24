"""Chapter 6's network explorer in headless Chromium, as a reader uses it: over http://, as a file:// page and in
JupyterLab. Choose a gallery image with the mouse, draw a stroke (mouse and touch), move the grey patch with the
keyboard; after each step the page's numbers must be Python's for the image and patch the page shows, the
occlusion-sensitivity map must be nin_book.probe's, no console error, no request off the machine.

Uses tests/test_browser.py's browser, server and build (the book in _build/html, rebuilt there when stale).
"""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest
import test_browser
from test_browser import (
    BUILD,
    EXPLORER_STATE_JS,
    LAB_ASK_KERNEL_JS,
    _console_errors,
    _network_events,
    _stays_local,
    jupyterlab_notebook,
)

from nin_book.export import load_explorer_data
from nin_book.probe import occlusion_sensitivity
from nin_book.widgets.network import NetworkExplorer

# The browser, the server of the built book and the check for Chromium, shared with tests/test_browser.py.
browser_tools, driver, server = test_browser.browser_tools, test_browser.driver, test_browser.server
PAGE = "chapters/06_confidence_maps.html"
FIND_JS = "return [...document.querySelectorAll('.nin-explorer')].findIndex(r => r.dataset.explorer === 'network')"


def _state(driver) -> dict:
    return driver.execute_script(EXPLORER_STATE_JS, driver.execute_script(FIND_JS))


def _settings(view: dict) -> dict:
    settings = {c["trait"]: c["value"] if c["type"] == "checkbox" else int(c["value"]) for c in view["controls"]}
    shipped = load_explorer_data()
    index = settings["gallery_index"]
    gallery = base64.b64encode(np.ascontiguousarray(shipped["gallery"][index]).tobytes()).decode()
    # The page says which image it ran: a gallery image's pixels, or a drawing (then Python runs that drawing).
    settings["pixels"] = "" if view["data"]["source"] != "drawn" else view["data"]["pixels"]
    assert view["data"]["source"] == "drawn" or view["data"]["pixels"] == gallery
    return settings


def _python(view: dict) -> dict:
    return NetworkExplorer(**_settings(view)).view_data()


def _root(driver):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, ".nin-explorer")[driver.execute_script(FIND_JS)]


def _after(driver, before: int, what: str) -> dict:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 20).until(lambda d: _state(d)["renders"] > before, message=what)
    return _state(driver)


def _sensitivity_matches(driver, root, view: dict) -> list[str]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    sens = root.find_element(By.CSS_SELECTOR, "canvas.nin-sensitivity")
    WebDriverWait(driver, 60).until(lambda d: sens.get_attribute("data-status") == "done")
    settings = _settings(view)
    shipped = load_explorer_data()
    image = (np.frombuffer(base64.b64decode(settings["pixels"]), dtype=np.uint8).reshape(28, 28) if settings["pixels"]
             else shipped["gallery"][settings["gallery_index"]])
    expected = ";".join(",".join(f"{v:.3f}" for v in row)
                        for row in occlusion_sensitivity(shipped["network"], image, settings["patch_size"]))
    if sens.get_attribute("data-values") != expected:
        return [f"occlusion sensitivity in the page {sens.get_attribute('data-values')}, Python {expected}"]
    return []


def _use_the_explorer(driver) -> list[str]:
    """Choose an image, draw strokes (mouse, then touch), move the patch with the keyboard; compare each step."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions import interaction
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 60).until(lambda d: d.execute_script(FIND_JS) >= 0 and _state(d)["renders"] >= 1)
    problems = []
    view = _state(driver)
    if view["data"] != _python(view):
        problems.append(f"at its opening the page shows {view['data']['logits']}, Python {_python(view).get('logits')}")
    root = _root(driver)
    problems += _sensitivity_matches(driver, root, view)

    # 1. Choose an image: click the third image of the Bag row (row 8) of the gallery.
    thumbs = root.find_element(By.CSS_SELECTOR, "canvas.nin-gallery")
    size = thumbs.size
    ActionChains(driver).move_to_element_with_offset(thumbs, int(-size["width"] / 2 + size["width"] * 2.5 / 10),
                                                     int(-size["height"] / 2 + size["height"] * 8.5 / 10)).click().perform()
    view = _after(driver, view["renders"], "the gallery click to redraw")
    picked = next(c["value"] for c in view["controls"] if c["trait"] == "gallery_index")
    if picked != 82:
        problems.append(f"clicking the third Bag chose gallery image {picked}, not 82")
    if view["data"] != _python(view):
        problems.append("after choosing an image the page's numbers are not Python's")

    # 2. Draw a stroke with the mouse: the Draw tool, then a drag across the image.
    root.find_element(By.CSS_SELECTOR, "button[data-tool=draw]").click()
    canvas = root.find_element(By.CSS_SELECTOR, "canvas.nin-input")
    side = canvas.size["width"]
    before = view["renders"]
    ActionChains(driver).move_to_element_with_offset(canvas, int(-side * 0.3), int(-side * 0.3)).click_and_hold() \
        .move_by_offset(int(side * 0.3), int(side * 0.2)).move_by_offset(int(side * 0.2), int(side * 0.3)).release().perform()
    view = _after(driver, before, "the stroke to redraw")
    if view["data"]["source"] != "drawn":
        problems.append("a mouse stroke did not turn the image into a drawing")
    drawn = np.frombuffer(base64.b64decode(view["data"]["pixels"]), dtype=np.uint8)
    original = load_explorer_data()["gallery"][82].ravel()
    if not ((drawn == 255) & (original != 255)).any():
        problems.append("the mouse stroke painted no pixel white")
    if view["data"] != _python(view):
        problems.append("after a mouse stroke the page's numbers are not Python's for the drawing")

    # ... and with a finger (a touch pointer), after clearing the canvas.
    root.find_element(By.CSS_SELECTOR, "button[data-action=clear]").click()
    view = _after(driver, view["renders"], "clearing to redraw")
    if set(base64.b64decode(view["data"]["pixels"])) != {0}:
        problems.append("Clear the canvas left pixels")
    touch = ActionBuilder(driver, mouse=PointerInput(interaction.POINTER_TOUCH, "finger"))
    rect = driver.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.left, r.top, r.width];", canvas)
    left, top, width = rect
    touch.pointer_action.move_to_location(int(left + width * 0.5), int(top + width * 0.1)).pointer_down()
    for k in range(1, 9):
        touch.pointer_action.move_to_location(int(left + width * 0.5), int(top + width * (0.1 + 0.1 * k)))
    touch.pointer_action.pointer_up()
    before = view["renders"]
    touch.perform()
    view = _after(driver, before, "the touch stroke to redraw")
    column = np.frombuffer(base64.b64decode(view["data"]["pixels"]), dtype=np.uint8).reshape(28, 28)[:, 14]
    if (column == 255).sum() < 15:
        problems.append(f"a vertical touch stroke painted {(column == 255).sum()} pixels of the middle column")
    if view["data"] != _python(view):
        problems.append("after a touch stroke the page's numbers are not Python's")
    problems += _sensitivity_matches(driver, root, view)

    # 3. Back to a gallery image, and the patch moved with the keyboard on the image.
    root.find_element(By.CSS_SELECTOR, "button[data-action=reset]").click()
    view = _after(driver, view["renders"], "going back to the gallery image")
    start = {c["trait"]: c["value"] for c in view["controls"]}
    driver.execute_script("arguments[0].focus()", canvas)
    for key in (Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_DOWN):
        before = _state(driver)["renders"]
        canvas.send_keys(key)
        view = _after(driver, before, "an arrow key to move the patch")
    moved = {c["trait"]: c["value"] for c in view["controls"]}
    if not (moved["patch"] and moved["patch_x"] == start["patch_x"] + 2 and moved["patch_y"] == start["patch_y"] + 1):
        problems.append(f"arrow keys moved the patch from {start} to {moved}")
    if view["data"] != _python(view):
        problems.append("with the patch moved by keyboard the page's numbers are not Python's")
    uncovered = NetworkExplorer(**{**_settings(view), "patch": False}).view_data()
    if view["data"]["logits"] == uncovered["logits"]:
        problems.append("the patch changed nothing")
    summary = root.find_element(By.CSS_SELECTOR, ".nin-summary").text
    if not summary.startswith(f"Predicted: {view['data']['predicted']}"):
        problems.append(f"the live summary says {summary!r}")
    return problems


@pytest.mark.parametrize("how", ["http", "file"])
def test_network_explorer_answers_a_reader(how: str, server, driver) -> None:
    driver.get_log("browser"), driver.get_log("performance")
    driver.get(server.url + PAGE if how == "http" else (BUILD / PAGE).as_uri())
    problems = _use_the_explorer(driver)
    problems += _console_errors(driver)
    origin = server.url.rstrip("/") if how == "http" else "file://"
    requested, _ = _network_events(driver, origin)
    if how == "http":
        problems += [f"request leaves localhost: {url}" for url in requested if not _stays_local(url, origin)]
    else:
        problems += [f"request leaves the machine: {url}" for url in requested if url.split(":", 1)[0] in ("http", "https")]
    assert not problems, f"{PAGE} over {how}:\n  " + "\n  ".join(problems)


def test_network_explorer_in_jupyterlab(browser_tools, driver, tmp_path: Path) -> None:
    """With a kernel: the arrow keys on the image move the patch in the page, and the kernel's widget follows."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    source = ("from nin_book.widgets.network import network_explorer\n"
              "explorer = network_explorer(gallery_index=60)\nexplorer")
    with jupyterlab_notebook(driver, tmp_path, source) as wait:
        canvas = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, ".nin-explorer[data-explorer=network] canvas.nin-input"))
        wait.until(lambda d: _state(d)["renders"] >= 1)
        driver.execute_script("arguments[0].focus()", canvas)
        for key in (Keys.ARROW_LEFT, Keys.ARROW_UP, Keys.ARROW_UP):
            canvas.send_keys(key)
        WebDriverWait(driver, 30).until(lambda d: {c["trait"]: c["value"] for c in _state(d)["controls"]}["patch_y"] == 8)
        view = _state(driver)
        expected = _python(view)
        assert expected == NetworkExplorer(gallery_index=60, patch=True, patch_x=9, patch_y=8).view_data()
        WebDriverWait(driver, 30).until(lambda d: _state(d)["data"] == expected)
        question = ("print(explorer.patch, explorer.patch_x, explorer.patch_y, "
                    f"explorer.view_data()['logits'] == {expected['logits']!r})")
        assert driver.execute_async_script(LAB_ASK_KERNEL_JS, question).strip() == "True 9 8 True"
