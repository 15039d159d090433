"""`datasync progress <connection>`: a progress bar per object of a connection's sync, drawn
from the status API's health endpoint until the initial sync is done and its writes settled.

On a terminal the lines are redrawn in place once a second; piped or redirected, one line per
object is printed each second instead. Nothing beyond the standard library and httpx.

The bar: while the sides are read and matched, how many records are known is not, so it only
shows that work goes on; from then on it fills with the records whose outcome is stored (in
sync, failing or excluded) out of those the initial sync published or held back.
"""

import argparse
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import httpx

from services.config import ApiSettings, DevstackSettings

BAR_WIDTH = 20
SETTLE_SECONDS = 5.0  # counts unchanged this long after the initial sync: the writes settled


# --- rendering: pure functions of the health document ------------------------------------------


def _n(value: Any) -> str:
    """A count short enough for a line of a narrow terminal: 9,999, 29.7k, 1.25M."""
    n = int(value or 0)
    if n < 10_000:
        return f"{n:,}"
    if n < 1_000_000:
        return f"{n / 1000:.1f}k".replace(".0k", "k")
    return f"{n / 1_000_000:.2f}M"


def expected_outcomes(health: dict[str, Any]) -> int | None:
    """How many records get a stored outcome: those published plus those held back as
    duplicates; unknown until matching is done."""
    progress = health.get("initial_sync") or {}
    to_publish = progress.get("to_publish")
    if to_publish is None:
        return None
    held = progress.get("duplicates") or {}
    return int(to_publish) + sum(int(v or 0) for v in held.values())


def stored_outcomes(health: dict[str, Any]) -> int:
    return sum(int(health.get(k) or 0) for k in ("in_sync", "failing", "excluded"))


def bar(fraction: float | None, tick: int, width: int = BAR_WIDTH) -> str:
    """`[#####-----]`, or a marker moving to and fro while the total is unknown."""
    if fraction is None:
        span = max(width - 3, 1)
        at = tick % (2 * span)
        at = at if at < span else 2 * span - at
        return "[" + " " * at + "<=>" + " " * (width - 3 - at) + "]"
    filled = round(max(0.0, min(fraction, 1.0)) * width)
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def render_object(name: str, health: dict[str, Any], tick: int = 0) -> str:
    """One line: the bar, the phase, and the figures of one object's sync."""
    progress = health.get("initial_sync") or {}
    state = health.get("state") or "unknown"
    phase = progress.get("phase") or ("not started" if state == "draft" else state)
    read = progress.get("read") or {}
    expected = expected_outcomes(health)
    stored = stored_outcomes(health)
    fraction = None if expected is None else (stored / expected if expected else 1.0)
    if state not in ("draft", "initial_sync") and not progress:
        fraction = 1.0  # syncing without an initial sync on record: nothing to wait for
    shown = "    " if fraction is None else f"{min(fraction, 1.0):4.0%}"
    held = progress.get("duplicates") or {}
    parts = [
        f"{name:<10} {bar(fraction, tick)} {shown} {phase:<10}",
        f"read {_n(read.get('hubspot'))} HubSpot {_n(read.get('app'))} app",
        f"matched {_n(progress.get('matched'))}",
    ]
    if any(held.values()):
        parts.append(f"duplicates {_n(sum(int(v or 0) for v in held.values()))}")
    if progress.get("to_publish") is not None:
        parts.append(f"published {_n(progress.get('published'))}/{_n(progress['to_publish'])}")
    parts += [
        f"in sync {_n(health.get('in_sync'))}",
        f"failing {_n(health.get('failing'))}",
        f"excluded {_n(health.get('excluded'))}",
    ]
    if health.get("pending"):
        parts.append(f"pending {_n(health['pending'])}")
    if progress.get("phase") == "failed" and progress.get("error"):
        parts.append(f"error: {progress['error']}")
    return "  ".join(parts)


def initial_sync_done(health: dict[str, Any]) -> bool:
    progress = health.get("initial_sync") or {}
    return health.get("state") not in ("draft", "initial_sync") and (
        not progress or progress.get("phase") == "done"
    )


def settled(health: dict[str, Any], unchanged_for: float) -> bool:
    """The initial sync is done and every record it published has its outcome stored, or
    the counts have stopped moving (records a one-way sync leaves alone get none)."""
    if not initial_sync_done(health) or health.get("pending"):
        return False
    expected = expected_outcomes(health)
    if expected is not None and stored_outcomes(health) >= expected:
        return True
    return unchanged_for >= SETTLE_SECONDS


# --- the loop -----------------------------------------------------------------------------------


class ProgressError(RuntimeError):
    """The API refused to tell, or the connection has nothing to follow."""


@dataclass
class Screen:
    """Writes frames: redrawn in place on a terminal, appended as plain lines otherwise."""

    out: TextIO
    live: bool
    drawn: int = 0

    def frame(self, lines: list[str]) -> None:
        if not self.live:
            stamp = time.strftime("%H:%M:%S")
            self.out.write("".join(f"{stamp} {line}\n" for line in lines))
            self.out.flush()
            return
        width = max(shutil.get_terminal_size((120, 24)).columns - 1, 20)
        # Back to the first line drawn last time, then each line cut to the terminal width
        # (a wrapped line would break the redraw) and cleared to its end.
        up = "\r" + ("\x1b[F" * (self.drawn - 1) if self.drawn > 1 else "")
        body = "\n".join(line[:width] + "\x1b[K" for line in lines)
        self.out.write(up + body)
        self.out.flush()
        self.drawn = len(lines)

    def close(self) -> None:
        if self.live and self.drawn:
            self.out.write("\n")
            self.out.flush()


def _token(given: str | None) -> str:
    if given:
        return given
    configured = ApiSettings().admin_token
    if configured:
        return configured
    path = Path(DevstackSettings().data_dir) / "admin-token"
    if path.exists():
        return path.read_text().strip()
    raise ProgressError(
        "no token: pass --token, set DATASYNC_ADMIN_TOKEN, or run from where .datasync/admin-token is"
    )


def fetch_health(http: httpx.Client, connection_id: str) -> dict[str, Any]:
    response = http.get(f"/v1/connections/{connection_id}/health")
    if response.status_code != 200:
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:200]
        raise ProgressError(f"{response.status_code} from the status API: {message}")
    return dict(response.json())


def follow(
    get_health: Callable[[], dict[str, Any]],
    objects: list[str] | None,
    screen: Screen,
    interval: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, dict[str, Any]]:
    """Draw frames until every followed object settled; returns their last health."""
    last: dict[str, tuple[tuple[int, ...], float]] = {}
    tick = 0
    while True:
        health = get_health().get("objects") or {}
        names = objects or sorted(health)
        missing = [n for n in names if n not in health]
        if not names or missing:
            raise ProgressError(
                f"connection has no {', '.join(missing)} sync"
                if missing
                else "connection syncs nothing"
            )
        now = clock()
        done = True
        for name in names:
            figures = tuple(
                int(health[name].get(k) or 0) for k in ("in_sync", "failing", "excluded", "pending")
            )
            if name not in last or last[name][0] != figures:
                last[name] = (figures, now)
            done = done and settled(health[name], now - last[name][1])
        screen.frame([render_object(n, health[n], tick) for n in names])
        if done:
            return {n: health[n] for n in names}
        tick += 1
        sleep(interval)


def run(args: argparse.Namespace) -> None:
    screen = Screen(sys.stdout, sys.stdout.isatty())
    try:
        token = _token(args.token)
        headers = {"Authorization": f"Bearer {token}"}
        api = args.api or f"http://127.0.0.1:{ApiSettings().api_port}"
        with httpx.Client(base_url=api, headers=headers, timeout=10.0) as http:
            final = follow(
                lambda: fetch_health(http, args.connection_id),
                args.objects,
                screen,
                args.interval,
            )
    except KeyboardInterrupt:
        screen.close()
        sys.exit(130)
    except (ProgressError, httpx.HTTPError) as exc:
        screen.close()
        sys.exit(f"datasync progress: {exc}")
    screen.close()
    failing = sum(int(h.get("failing") or 0) for h in final.values())
    if failing:
        print(f"{failing:,} records failing: GET /v1/connections/{args.connection_id}/errors")
