"""Helpers for the tablet tests: a real `psyq serve` subprocess, kiosk codes, Chromium.

The browser is Debian's chromium driven by its chromedriver (tools/system-deps.sh
installs both). Selenium is pointed at them explicitly and told to stay offline,
so Selenium Manager never downloads a browser or a driver. A missing browser
fails the test, with the command that installs it: never a silent skip.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("PSYQ_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("PSYQ_CHROMEDRIVER", "/usr/bin/chromedriver"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Served:
    """A running `psyq serve` on a free localhost port, with its data directory."""

    url: str
    home: Path
    log: Path
    process: subprocess.Popen[bytes]
    extra_env: dict[str, str]

    def env(self) -> dict[str, str]:
        return {**os.environ, "PSYQ_HOME": str(self.home), **self.extra_env}

    def psyq(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        run = subprocess.run(
            [sys.executable, "-m", "psyq", *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check:
            assert run.returncode == 0, run.stderr + run.stdout
        return run

    def start(self, *args: str) -> tuple[int, str]:
        """`psyq kiosk start ARGS` -> (session id, code as printed)."""
        out = self.psyq("kiosk", "start", "--no-qr", *args).stdout
        session = re.search(r"kiosk session (\d+)", out)
        code = re.search(r"code: (\S+)", out)
        assert session and code, out
        assert self.url in out, out
        return int(session.group(1)), code.group(1)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


ROOT = Path(__file__).resolve().parents[1]


def language_pack_env(site: Path) -> dict[str, str]:
    """Environment in which psyq finds the test language pack as an installed plugin."""
    dist = site / "psyq_langtest-1.0.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: psyq-langtest\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[psyq]\nlangtest = tests.languages:plugin\n")
    return {"PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}


@contextmanager
def serve(
    home: Path, log: Path, *extra: str, env_extra: dict[str, str] | None = None
) -> Iterator[Served]:
    port = free_port()
    env = {**os.environ, "PSYQ_HOME": str(home), "PYTHONUNBUFFERED": "1", **(env_extra or {})}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "psyq", "serve", "--port", str(port), *extra],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "ping", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"psyq serve did not start:\n{log.read_text()}") from None
                time.sleep(0.1)
        yield Served(url, home, log, process, env_extra or {})
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def chromium(download_dir: Path) -> Any:
    """A headless Chromium the size of a tablet in portrait, from the system packages."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(
            f"browser tests need {', '.join(missing)}: run `sudo bash tools/system-deps.sh` "
            "(installs chromium and chromium-driver)"
        )
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager: never download anything
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=800,1100",
        "--no-first-run",
        "--disable-extensions",
        f"--user-data-dir={download_dir}",
    ):
        options.add_argument(arg)
    service = Service(executable_path=str(CHROMEDRIVER))
    return webdriver.Chrome(service=service, options=options)


class Tablet:
    """One browser at the tablet pages, saving a screenshot of every screen it sees."""

    def __init__(self, served: Served, shots: Path, name: str) -> None:
        self.served = served
        self.shots = shots
        self.name = name
        self.count = 0
        shots.mkdir(parents=True, exist_ok=True)
        self.driver = chromium(shots / f"profile-{name}")
        self.sources: list[str] = []

    def close(self) -> None:
        self.driver.quit()

    def shot(self, label: str) -> Path:
        self.count += 1
        path = self.shots / f"{self.name}-{self.count:02d}-{label}.png"
        self.driver.save_screenshot(str(path))
        self.sources.append(self.driver.page_source)
        return path

    def open(self) -> None:
        self.driver.get(self.served.url)
        self.shot("code")

    def by_id(self, ident: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.ID, ident)

    def has(self, ident: str) -> bool:
        from selenium.webdriver.common.by import By

        return bool(self.driver.find_elements(By.ID, ident))

    def _submit(self, ident: str) -> None:
        """Click a submit button and wait for the next page (every post redirects)."""
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.support.ui import WebDriverWait

        # A mark on the current page's window: gone once the next page has loaded.
        self.driver.execute_script("window.psyqOldPage = true;")
        self.by_id(ident).click()
        WebDriverWait(self.driver, 15, ignored_exceptions=(WebDriverException,)).until(
            lambda d: d.execute_script(
                "return window.psyqOldPage === undefined && document.readyState === 'complete';"
            )
        )

    def enter_code(self, code: str) -> None:
        field = self.by_id("code")
        field.clear()
        field.send_keys(code)
        self._submit("go")
        self.shot("after-code")

    def click(self, ident: str, label: str | None = None) -> None:
        self._submit(ident)
        self.shot(label or ident)

    def progress(self) -> str:
        from selenium.webdriver.common.by import By

        text: str = self.driver.find_element(By.CLASS_NAME, "progress").text
        return text

    def question(self) -> str:
        text: str = self.by_id("question").text
        return text

    def text(self) -> str:
        from selenium.webdriver.common.by import By

        body: str = self.driver.find_element(By.TAG_NAME, "body").text
        return body


class HttpTablet:
    """A tablet without a browser: urllib with its own cookies, for protocol-level tests."""

    def __init__(self, url: str) -> None:
        import http.cookiejar

        self.url = url.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.page = ""
        self.status = 0
        self.headers: Any = None

    def _send(self, request: urllib.request.Request) -> str:
        import urllib.error

        try:
            with self.opener.open(request, timeout=30) as response:
                self.status = response.status
                self.headers = response.headers
                body: bytes = response.read()
        except urllib.error.HTTPError as exc:
            self.status = exc.code
            self.headers = exc.headers
            body = exc.read()
        self.page = body.decode("utf-8")
        return self.page

    def get(self, path: str) -> str:
        return self._send(urllib.request.Request(self.url + path))

    def csrf(self) -> str:
        match = re.search(r'name="csrf" value="([^"]+)"', self.page)
        return match.group(1) if match else ""

    def step(self) -> str:
        match = re.search(r'name="step" value="([^"]+)"', self.page)
        return match.group(1) if match else ""

    def post(self, path: str, fields: dict[str, str], headers: dict[str, str] | None = None) -> str:
        from urllib.parse import urlencode

        request = urllib.request.Request(
            self.url + path, data=urlencode(fields).encode(), headers=headers or {}
        )
        return self._send(request)

    def enter(self, code: str) -> str:
        if 'name="code"' not in self.page:
            self.get("/")
        return self.post("/code", {"csrf": self.csrf(), "code": code})

    def act(self, action: str, value: int | None = None) -> str:
        fields = {"csrf": self.csrf(), "step": self.step(), "action": action}
        if value is not None:
            fields["value"] = str(value)
        return self.post("/form", fields)
