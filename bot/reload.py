"""Config hot reload: the running bot re-reads its config file when it changes, or on SIGHUP.

What a reload does with the file it reads:

- A good file: the keys that can change live (see `bot.reload_keys`) are applied by swapping
  `runner.settings`, one attribute assignment, so a step uses either the old settings or the
  new ones, never a mix. One INFO line names the changed keys, never their values: a prompt is
  long and some values are secrets.
- A key that only takes effect at start-up (database, Telegram, web, security keys, providers,
  and anything not listed as reloadable) keeps its running value; one WARNING names it.
- A bad file (TOML error, a key that fails validation, unreadable): nothing changes; one ERROR
  line carries `ConfigError`'s message, which names the key. No traceback.
- The same content again (a touch, a second save) is not a change: one DEBUG line at most.

Flow limits apply to new steps. What a verification already stored keeps: an OTP sent before
the reload keeps its expiry, its attempts left and its resend time; the next OTP, cooldown,
idle deadline or lockout is computed with the new limits.

Environment variables still win over the file, as at start-up: the environment is the one the
process started with.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Protocol

from watchfiles import Change, awatch

from bot.config import ConfigError, Settings, load_settings
from bot.reload_keys import changes, effective

__all__ = [
    "ConfigReloader",
    "ReloadListener",
    "SettingsHolder",
    "config_reloading",
]

log = logging.getLogger(__name__)

# An editor's save arrives as several events (write a temporary file, rename it over): they are
# gathered until the directory is quiet for this long, then the file is read once.
QUIET_MS = 200
LONGEST_BURST_MS = 1500

ReloadListener = Callable[[Settings, frozenset[str]], None]


class SettingsHolder(Protocol):
    """What reads the settings live: the runner."""

    settings: Settings


class ConfigReloader:
    """Owns the config file's path and re-reads it into `target.settings` on demand."""

    def __init__(
        self,
        *,
        path: Path,
        target: SettingsHolder,
        environ: Mapping[str, str],
        stderr_follows_level: bool = True,
    ) -> None:
        self.path = path.absolute()
        self._target = target
        self._environ = dict(environ)
        # Off in the terminal chat: its stderr shows warnings only, whatever the level.
        self._stderr_follows_level = stderr_follows_level
        # The last good settings as the file gave them, restart-only keys included: a change
        # is what differs from these, so each edit is reported once.
        self._from_file = target.settings
        # Unknown until the first reload reads the file: the settings were loaded a moment ago
        # and the file may have changed since.
        self._digest: bytes | None = None
        self._listeners: list[ReloadListener] = []
        self._refused = False  # the last reload refused the file
        self._stopping = asyncio.Event()

    def on_reload(self, listener: ReloadListener) -> None:
        """Call `listener(settings, changed_keys)` after each reload that applied something."""
        self._listeners.append(listener)

    def reload(self, trigger: str, *, even_if_unchanged: bool = False) -> None:
        """Re-read the file now; `trigger` says why in the log lines."""
        digest = _digest(self.path)
        if digest is not None and digest == self._digest and not even_if_unchanged:
            log.debug("config file %s saved without changes", self.path)
            return
        self._digest = digest
        try:
            loaded = load_settings(self.path, self._environ)
        except ConfigError as error:
            log.error("config not reloaded (%s), keeping the running settings: %s", trigger, error)
            self._refused = True
            return
        mended, self._refused = self._refused, False
        running = self._target.settings
        found = changes(before=self._from_file, after=loaded, running=running)
        self._from_file = loaded
        live, restart = found.live, found.restart_only
        if live:
            applied = effective(running=running, loaded=loaded)
            self._target.settings = applied
            if applied.logging.level != running.logging.level:
                self._follow_log_level(applied.logging.level)
            log.info("config reloaded (%s): %s", trigger, ", ".join(live))
            for listener in self._listeners:
                try:
                    listener(applied, frozenset(live))
                except Exception as error:
                    # The settings are applied already; one subscriber's bug must not stop
                    # the others or the watch.
                    log.error("a config reload listener failed: %s", type(error).__name__)
        if restart:
            log.warning(
                "config (%s): changed, but applied only by a restart (running with the old "
                "values until then): %s",
                trigger,
                ", ".join(restart),
            )
        if not live and not restart:
            # A signal is a question from the operator, and a refused file that is good again
            # is news to them: both get an answer.
            level = logging.INFO if even_if_unchanged or mended else logging.DEBUG
            log.log(level, "config reloaded (%s): nothing changed", trigger)

    def reload_on_signal(self) -> None:
        """The SIGHUP handler: reload, and say so even when nothing changed."""
        self.reload("SIGHUP", even_if_unchanged=True)

    async def watch(self) -> None:
        """Reload after each change of the file until `stop()`."""
        try:
            # The directory, not the file: editors save by writing a new file and renaming it
            # over the old one, which a watch on the old file would never see.
            async for _ in awatch(
                self.path.parent,
                watch_filter=self._concerns_the_file,
                stop_event=self._stopping,
                step=QUIET_MS,
                debounce=LONGEST_BURST_MS,
                recursive=False,
            ):
                self.reload("file changed")
        except OSError as error:
            log.warning(
                "config file watch stopped (%s); SIGHUP still reloads", type(error).__name__
            )

    def stop(self) -> None:
        """End `watch()`."""
        self._stopping.set()

    def _concerns_the_file(self, change: Change, changed: str) -> bool:
        name = Path(changed).name
        # Kubernetes swaps a mounted ConfigMap by replacing its `..data` symlink, not the file.
        return name == self.path.name or name.startswith("..")

    def _follow_log_level(self, new: str) -> None:
        root = logging.getLogger()
        previous = root.level
        root.setLevel(new)
        if not self._stderr_follows_level:
            return
        # Handlers that were at the old level were set from it (see bot.logs); any other level
        # was chosen on purpose and stays.
        for handler in root.handlers:
            if handler.level == previous:
                handler.setLevel(new)


@contextlib.asynccontextmanager
async def config_reloading(
    path: Path | None,
    target: SettingsHolder,
    *,
    on_sighup: bool = True,
    stderr_follows_level: bool = True,
    environ: Mapping[str, str] | None = None,
) -> AsyncIterator[ConfigReloader | None]:
    """Watch `path` (and take SIGHUP if `on_sighup`) while inside; None without a config file."""
    if path is None:
        log.info("config reload is off: the bot was started without a config file")
        yield None
        return
    reloader = ConfigReloader(
        path=path,
        target=target,
        environ=os.environ if environ is None else environ,
        stderr_follows_level=stderr_follows_level,
    )
    loop = asyncio.get_running_loop()
    if on_sighup:
        loop.add_signal_handler(signal.SIGHUP, reloader.reload_on_signal)
    watching = asyncio.create_task(reloader.watch(), name="config-watch")
    try:
        yield reloader
    finally:
        if on_sighup:
            loop.remove_signal_handler(signal.SIGHUP)
        reloader.stop()
        await watching


def _digest(path: Path) -> bytes | None:
    try:
        return hashlib.sha256(path.read_bytes()).digest()
    except OSError:
        return None
