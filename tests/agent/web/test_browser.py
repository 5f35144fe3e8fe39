"""End to end in a real browser: Debian's chromium, driven by Selenium, against the real server.

The server is uvicorn in a thread on a free loopback port, over a seeded store on each
database; the browser is the system's chromium with its matching chromedriver (never a
download). The test walks what a reviewer does (list, filter, open a run, log in with the
token, label it) and checks the label reached the database. Each page is saved as a screenshot
in the test's temporary directory (the README's picture is one of them).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from softloop.agent.cli.serve import bind
from softloop.agent.store import Store
from softloop.agent.web import create_app
from tests.agent.web.sample_data import seed

pytestmark = pytest.mark.slow  # a real chromium and a live server for each back end

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
]
TOKEN = "e2e-review-token"
# Bounds on waiting for a condition, not expectations of speed: on a busy two-core machine a
# page load or a server start can take seconds, and only a hang should take this long.
WAIT_S = 90


@pytest.fixture
def live_url(store: Store) -> Iterator[str]:
    """The review page served by uvicorn in a thread, on a free port of 127.0.0.1."""
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(store, token=TOKEN), log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_S
    while not server.started:
        assert thread.is_alive(), "the server thread stopped before it started serving"
        assert time.monotonic() < deadline, f"the server did not start within {WAIT_S} s"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(WAIT_S)
    sock.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(
            f"the browser test needs {' and '.join(missing)}: "
            "apt-get install -y chromium chromium-driver (.ci/run does)",
            pytrace=False,
        )
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in [*FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT_S)
    yield driver
    driver.quit()


def _shot(driver: WebDriver, path: Path) -> None:
    """A screenshot of the whole page, however long (the window is resized to fit it)."""
    height = driver.find_element(By.TAG_NAME, "body").size["height"]
    driver.set_window_size(1280, max(900, height + 40))
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 900)


def test_review_in_a_browser(
    store: Store, live_url: str, browser: WebDriver, tmp_path: Path
) -> None:
    seeded = seed(store)
    wait = WebDriverWait(browser, WAIT_S)

    # The list, with the figures and the chart above it.
    browser.get(live_url + "/")
    rows = browser.find_elements(By.CSS_SELECTOR, "#runs tbody tr")
    assert len(rows) == 25 and browser.find_element(By.ID, "next")
    assert browser.find_element(By.ID, "stat-runs").text == str(len(seeded.runs))
    assert browser.find_elements(By.CSS_SELECTOR, ".figures svg rect")
    _shot(browser, tmp_path / "runs.png")

    # Filter: the reverse runs that gave up.
    browser.find_element(By.ID, "f-task").send_keys("reverse")
    browser.find_element(By.CSS_SELECTOR, "#f-status option[value=gave_up]").click()
    browser.find_element(By.ID, "apply").click()
    wait.until(ec.url_contains("status=gave_up"))
    gave_up = [r for r in seeded.runs if r.status == "gave_up"]
    links = browser.find_elements(By.CSS_SELECTOR, "#runs a.run-link")
    assert [a.text for a in links] == [r.id.hex[:8] for r in reversed(gave_up)]
    _shot(browser, tmp_path / "runs-filtered.png")

    # Open the newest of them: its attempts, critiques and diffs.
    links[0].click()
    wait.until(ec.presence_of_element_located((By.ID, "run-status")))
    run = gave_up[-1]
    assert browser.find_element(By.ID, "run-input").text == run.input
    assert len(browser.find_elements(By.CSS_SELECTOR, "article.attempt")) == len(run.attempts)
    assert browser.find_elements(By.CSS_SELECTOR, ".diff ins, .diff del")
    assert not browser.find_elements(By.ID, "label-form")  # a token is set: log in first
    _shot(browser, tmp_path / "run.png")

    # Log in with the token, land back on the run, label it.
    browser.find_element(By.PARTIAL_LINK_TEXT, "Log in").click()
    wait.until(ec.presence_of_element_located((By.ID, "token"))).send_keys(TOKEN)
    _shot(browser, tmp_path / "login.png")
    browser.find_element(By.ID, "login").click()
    wait.until(ec.presence_of_element_located((By.ID, "label-form")))
    browser.find_element(By.ID, "answer").send_keys(run.input[::-1])
    browser.find_element(By.ID, "author").send_keys("e2e")
    browser.find_element(By.ID, "mark-incorrect").click()
    wait.until(ec.presence_of_element_located((By.ID, "labelled")))
    assert "incorrect" in browser.find_element(By.ID, "label-list").text
    _shot(browser, tmp_path / "run-labelled.png")

    labels = store.get_run(run.id).labels
    assert [(lb.correct, lb.answer, lb.source, lb.author) for lb in labels] == [
        (False, run.input[::-1], "human", "e2e")
    ]

    # The prompts: versions, promotions and the curve across versions.
    browser.find_element(By.LINK_TEXT, "Prompts").click()
    wait.until(ec.presence_of_element_located((By.ID, "prompt-reverse")))
    curve = browser.find_elements(By.CSS_SELECTOR, "#prompt-reverse svg circle")
    assert len(curve) >= 3
    _shot(browser, tmp_path / "prompts.png")

    for name in ("runs", "runs-filtered", "run", "login", "run-labelled", "prompts"):
        assert (tmp_path / f"{name}.png").stat().st_size > 0
