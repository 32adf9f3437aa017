"""Headless Chromium for the end-to-end tests and scripts/admin-screenshots: Debian's
``chromium`` and ``chromium-driver`` packages, driven by Selenium. The driver's path is given
explicitly and Selenium Manager is told to stay offline: nothing is ever downloaded."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

CHROMIUM = os.environ.get("CARTGROUPS_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CARTGROUPS_CHROMEDRIVER", "/usr/bin/chromedriver")
REQUIRE = os.environ.get("CARTGROUPS_TEST_REQUIRE_BROWSER") == "1"


def problem() -> str | None:
    """Why the browser cannot run here, or None."""
    for name, path in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)):
        if not (Path(path).is_file() and os.access(path, os.X_OK)):
            return f"{name} not found at {path} (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (scripts/bootstrap dev)"
    return None


def start(width: int = 1280, height: int = 900):  # type: ignore[no-untyped-def]
    """A new headless Chromium session (a selenium WebDriver)."""
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not reach the network
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--disable-extensions",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--window-size={width},{height}",
    ):
        options.add_argument(argument)
    service = Service(executable_path=CHROMEDRIVER, log_output=os.devnull)
    assert shutil.which(CHROMEDRIVER)
    return webdriver.Chrome(service=service, options=options)
