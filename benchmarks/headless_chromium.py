"""The headless Chromium of the explorer benchmarks (explorer_redraw.py, explorer_network.py): one built page, opened
offline from file://, with its explorer of one kind drawn."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# Every host but 127.0.0.1 unresolvable: a page that needs the internet fails here.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")


@contextlib.contextmanager
def explorer_page(page: Path, explorer: str) -> Iterator[Any]:
    """A Chromium driver on ``page`` once its explorer ``explorer`` (``data-explorer``) is drawn; quits afterwards.
    Exits with a line naming the fix when Chromium or the built page is missing."""
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and chromedriver):
        sys.exit("needs Debian's chromium and chromium-driver")
    if not page.exists():
        sys.exit(f"{page.relative_to(ROOT)} is missing: run `jupyter-book build .` first")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    try:
        driver.get(page.as_uri())
        WebDriverWait(driver, 60).until(lambda d: d.execute_script(
            "return [...document.querySelectorAll('.nin-explorer')].some(r => r.dataset.explorer === arguments[0])",
            explorer))
        yield driver
    finally:
        driver.quit()


def chromium_version(driver: Any) -> str:
    """The browser's version, as the driver reports it or as `chromium --version` prints it."""
    return driver.capabilities.get("browserVersion", "") or subprocess.run(
        [shutil.which("chromium") or "chromium", "--version"], capture_output=True, text=True).stdout.strip()
