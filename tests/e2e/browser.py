"""Headless Chromium driven over the DevTools protocol, for the dashboard's end-to-end tests.

The browser is Debian's `chromium` (`make browser` installs it); nothing is downloaded. The
protocol is spoken over a WebSocket with aiohttp, which the pinned set has already (through
faust-streaming): the few commands a test needs do not call for a client library and its pins.
"""

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from tests.helpers import eventually

WIDTH, HEIGHT = 1280, 900


def chromium_binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class BrowserError(AssertionError):
    """The browser or the page said no: a failed command, or a script that threw."""


class Page:
    """One tab. It records what a person would see as a problem in the console: uncaught
    exceptions, `console.error` and failed loads (`problems`). Dialogs are accepted."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._answers: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.problems: list[str] = []
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one protocol command and wait for its answer."""
        ident = next(self._ids)
        answer = asyncio.get_running_loop().create_future()
        self._answers[ident] = answer
        await self._ws.send_str(json.dumps({"id": ident, "method": method, "params": params}))
        result = await asyncio.wait_for(answer, 60)
        if "error" in result:
            raise BrowserError(f"{method}: {result['error'].get('message')}")
        return dict(result.get("result", {}))

    async def _read(self) -> None:
        async for message in self._ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(message.data)
            if "id" in data:
                answer = self._answers.pop(data["id"], None)
                if answer is not None and not answer.done():
                    answer.set_result(data)
            else:
                self._on_event(data["method"], data.get("params", {}))
        for answer in self._answers.values():
            if not answer.done():
                answer.set_exception(BrowserError("the browser closed the connection"))

    def _on_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            thrown = details.get("exception", {}).get("description") or details.get("text")
            self.problems.append(f"uncaught: {thrown}")
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            words = [a.get("value", a.get("description", "")) for a in params.get("args", [])]
            self.problems.append(f"console.{params['type']}: {' '.join(map(str, words))}")
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            self.problems.append(f"{entry['source']}: {entry['text']} {entry.get('url', '')}")
        elif method == "Page.javascriptDialogOpening":
            task = asyncio.get_running_loop().create_task(
                self.send("Page.handleJavaScriptDialog", accept=True)
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def open(self, url: str) -> None:
        """Load `url` and wait until the document and what it loads are complete."""
        for domain in ("Page", "Runtime", "Log"):
            await self.send(f"{domain}.enable")
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            width=WIDTH,
            height=HEIGHT,
            deviceScaleFactor=1,
            mobile=False,
        )
        await self.send("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete' && location.href !== 'about:blank'")

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises are awaited)."""
        result = await self.send(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            thrown = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"{expression!r} threw {thrown}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, within: float = 30.0) -> Any:
        """The first truthy value of `expression`, evaluated until `within` seconds pass. It
        must give a value JSON carries (`!!element`, not the element: that arrives as `{}`)."""

        async def probe() -> Any:
            return await self.evaluate(expression)

        try:
            return await eventually(probe, within)
        except AssertionError:
            raise AssertionError(f"the page never made {expression!r} true") from None

    async def click(self, selector: str) -> None:
        """Click the middle of the element, as a mouse would: it must be visible and enabled."""
        box = await self.wait_for(
            f"""(() => {{
                const e = document.querySelector({json.dumps(selector)});
                if (!e || e.disabled || !e.offsetParent) return null;
                e.scrollIntoView({{block: "center"}});
                const r = e.getBoundingClientRect();
                return {{x: r.x + r.width / 2, y: r.y + r.height / 2}};
            }})()"""
        )
        for kind in ("mousePressed", "mouseReleased"):
            await self.send(
                "Input.dispatchMouseEvent",
                type=kind,
                x=box["x"],
                y=box["y"],
                button="left",
                clickCount=1,
            )

    async def type(self, selector: str, text: str) -> None:
        """Focus the field and type `text` into it."""
        await self.wait_for(f"!!document.querySelector({json.dumps(selector)})")
        await self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        await self.send("Input.insertText", text=text)

    async def press_enter(self) -> None:
        for kind in ("keyDown", "keyUp"):
            await self.send(
                "Input.dispatchKeyEvent",
                type=kind,
                key="Enter",
                code="Enter",
                windowsVirtualKeyCode=13,
                **({"text": "\r"} if kind == "keyDown" else {}),
            )

    async def screenshot(self, path: Path) -> None:
        """A PNG of the whole page, as tall as its content (not the window)."""
        height = await self.evaluate("Math.ceil(document.body.getBoundingClientRect().height)")
        shot = await self.send(
            "Page.captureScreenshot",
            format="png",
            captureBeyondViewport=True,
            clip={"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1},
        )
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        await self._ws.close()


class Chromium:
    """A headless Chromium with its own throwaway profile; `page()` opens a new tab."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.profile = Path(tempfile.mkdtemp(prefix="datasync-chromium-"))
        self.process: asyncio.subprocess.Process | None = None
        self.log = (self.profile / "chromium.log").open("wb")
        self.http: aiohttp.ClientSession | None = None
        self.endpoint = ""

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            self.binary,
            "--headless",
            "--no-sandbox",  # tests run as root in CI; the page is the test's own
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--no-default-browser-check",
            "--remote-debugging-port=0",
            f"--user-data-dir={self.profile}",
            f"--window-size={WIDTH},{HEIGHT}",
            "about:blank",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        active = self.profile / "DevToolsActivePort"

        async def listening() -> str | None:
            if self.process is not None and self.process.returncode is not None:
                log = (self.profile / "chromium.log").read_text(errors="replace")
                raise BrowserError(f"chromium exited with {self.process.returncode}: {log}")
            lines = active.read_text().split() if active.exists() else []
            return lines[0] if len(lines) == 2 else None

        port = await eventually(listening, 60)
        self.endpoint = f"http://127.0.0.1:{port}"
        self.http = aiohttp.ClientSession()

    async def page(self) -> Page:
        assert self.http is not None, "start() first"
        async with self.http.put(f"{self.endpoint}/json/new?about:blank") as response:
            target = await response.json()
        ws = await self.http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0)
        return Page(ws)

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()
        if self.process is not None:
            if self.process.returncode is None:
                self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)


@contextlib.asynccontextmanager
async def chromium(binary: str) -> AsyncIterator[Chromium]:
    browser = Chromium(binary)
    try:
        await browser.start()
        yield browser
    finally:
        await browser.stop()
