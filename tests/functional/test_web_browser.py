"""A real browser: the distribution's headless Chromium opens `stablelm-tui web`'s URL, the app draws, a Japanese
message typed into the page gets a streamed reply and moves the token meter; the same page without the token is
refused. The screen is read from the websocket frames the page receives (Chrome's performance log), replayed into
a pyte terminal: the page draws on a canvas, so its DOM has no text to read.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pyte
import pytest

from tests.functional.web_helpers import Web, screen_text, start_web

pytestmark = [pytest.mark.slow, pytest.mark.server]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
METER = re.compile(r"(\d+)/(\d+) ▕")
MESSAGE = "富士山の高さを教えてください"


def browser(tmp_path: Path):  # type: ignore[no-untyped-def]
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(
            f"{' and '.join(missing)} not found: `make test` installs them (make browser, with apt-get)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1100,760"):
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


class PageScreen:
    """The tab's terminal, rebuilt from the binary websocket frames Chrome logged."""

    def __init__(self, driver) -> None:  # type: ignore[no-untyped-def]
        self.driver = driver
        self.screen = pyte.Screen(80, 24)
        self.stream = pyte.ByteStream(self.screen)
        self.statuses: dict[str, int] = {}

    def poll(self) -> str:
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            params = message.get("params", {})
            if message["method"] == "Network.responseReceived":
                self.statuses[params["response"]["url"]] = params["response"]["status"]
            elif message["method"] == "Network.webSocketCreated":
                # A new app: the page asked for a terminal of its window's size in the URL.
                size = re.search(r"width=(\d+)&height=(\d+)", params["url"])
                if size:
                    self.screen.resize(int(size.group(2)), int(size.group(1)))
                self.screen.reset()
            elif message["method"] == "Network.webSocketFrameReceived":
                frame = params["response"]
                if frame["opcode"] == 2:
                    self.stream.feed(base64.b64decode(frame["payloadData"]))
        return screen_text(self.screen)

    def wait_for(self, predicate, timeout: float = 90.0) -> str:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        text = self.poll()
        while not predicate(text):
            assert time.monotonic() < deadline, f"timed out; the page's screen:\n{text}"
            time.sleep(0.1)
            text = self.poll()
        return text


def meter_used(text: str) -> int:
    match = METER.search(text)
    assert match, f"no meter on screen:\n{text}"
    return int(match.group(1))


@pytest.fixture(scope="module")
def web(demo_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    server = start_web(tmp_path_factory.mktemp("web-browser"))
    yield server
    server.stop()


def test_the_browser_chats_in_japanese_with_a_streamed_reply_and_a_moving_meter(
    web: Web, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver = browser(tmp_path)
    try:
        driver.get(web.url)
        assert "token=" not in driver.current_url  # traded for the cookie
        page = PageScreen(driver)
        keys = driver.find_element(By.CSS_SELECTOR, "textarea.xterm-helper-textarea")
        before_text = page.wait_for(lambda t: "Quit" in t and METER.search(t) is not None)
        before = meter_used(before_text)

        keys.send_keys(MESSAGE)
        # The meter counts the draft as it is typed (Japanese went through the page's textarea intact).
        typed = meter_used(page.wait_for(lambda t: MESSAGE in t and meter_used(t) > before, timeout=30))
        keys.send_keys(Keys.ENTER)
        # Streaming: the reply is seen growing across several screens before the model is done.
        seen: list[str] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            text = page.poll()
            if not seen or text != seen[-1]:
                seen.append(text)
            streamed = sum("generating" in t.lower() for t in seen)
            if streamed >= 2 and "generating" not in text.lower():
                break  # the reply ended
            time.sleep(0.05)
        generating = [t for t in seen if "generating" in t.lower()]
        assert len(generating) >= 2, "the reply did not stream (fewer than two screens while generating)"
        after_text = seen[-1]
        assert meter_used(after_text) > typed, f"the reply did not move the meter:\n{after_text}"
        lines = after_text.splitlines()
        headers = [i for i, line in enumerate(lines) if "assistant ·" in line]
        assert headers and lines[headers[-1] + 1].strip(), (
            f"no reply under the assistant header:\n{after_text}"
        )
        assert MESSAGE in after_text
        shot = tmp_path / "web.png"
        assert driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
    finally:
        driver.quit()


def test_the_same_page_without_the_token_is_refused(web: Web, tmp_path: Path) -> None:
    driver = browser(tmp_path)
    try:
        driver.get(web.base + "/")
        body = driver.find_element("tag name", "body").text
        assert "open the URL that `stablelm-tui web` printed" in body
        page = PageScreen(driver)
        page.poll()
        assert page.statuses.get(web.base + "/") == 401
        assert not driver.find_elements("css selector", "textarea.xterm-helper-textarea")
        assert web.apps() == []
    finally:
        driver.quit()
