"""Headless Chromium for the UI tests (Debian's `chromium` and `chromium-driver`), and Airflow's login."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

needs_chromium = pytest.mark.skipif(
    not (shutil.which("chromium") and shutil.which("chromedriver")),
    reason="needs Debian's chromium and chromium-driver",
)


@contextmanager
def chromium(width: int = 1400, height: int = 1000) -> Iterator:
    """A headless Chromium driven by Selenium; quit on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or ""
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", f"--window-size={width},{height}"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        yield browser
    finally:
        browser.quit()


def log_in(browser, base_url: str, user: str, password: str, timeout: float = 60) -> None:
    """Airflow's own login form, filled in as a user does."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(base_url)
    WebDriverWait(browser, timeout).until(ec.presence_of_element_located((By.NAME, "username"))).send_keys(user)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


@contextmanager
def page_shown_on_failure(browser, folder: Path) -> Iterator[None]:
    """On an exception: a screenshot in `folder`, and the page's address and text in the error."""
    try:
        yield
    except Exception as error:
        shot = folder / "failure.png"
        browser.save_screenshot(str(shot))
        text = browser.find_element("tag name", "body").text[:1500]
        raise AssertionError(
            f"{error!r}\nat {browser.current_url} (screenshot {shot}), the page reads:\n{text}"
        ) from error
