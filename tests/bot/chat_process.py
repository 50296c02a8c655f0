"""Drive the real `kycbot chat` process in a pseudo terminal, the way a person would.

`ChatWorld` holds what several runs share (a SQLite file, fresh keys, a log file, environment
overrides); `ChatWorld.start()` spawns one `kycbot chat` and returns a `ChatProcess`.

`ChatProcess` keeps everything the process printed (its *screen*) and a read position:
`expect(text)` waits for `text` after the position and moves past it, so a test reads the
conversation in order. `send(line)` first waits until the bot asked for input again (the
`you> ` prompt after the previous line was handled), so a line is never typed into a
half-finished reply. The pseudo terminal does not echo what is typed: the screen holds only
what the bot printed.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pexpect

__all__ = ["SMS_LINE", "ChatProcess", "ChatWorld"]

TIMEOUT_SECONDS = 15.0
# The prompt the terminal writes when it waits for a line: "you> " or "you (6-digit OTP, hidden)> ".
INPUT_PROMPT = re.compile(r"you(?: \([^)\n]*\))?> ")
SMS_LINE = re.compile(r"\[simulated SMS to the mobile linked with XXXX XXXX \d{4}\] OTP (\d{6})")


def fresh_keys() -> dict[str, str]:
    """A new pair of secrets, as `kycbot keys` prints them."""
    return {
        "KYCBOT_SECURITY__ENCRYPTION_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "KYCBOT_SECURITY__HMAC_KEY": secrets.token_urlsafe(48),
    }


def base_environment(overrides: Mapping[str, str]) -> dict[str, str]:
    """os.environ without anyone's KYCBOT_* settings, plus `overrides`."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("KYCBOT_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


@dataclass
class ChatWorld:
    """One installation: a database, keys and a log file shared by every process started."""

    directory: Path
    env: dict[str, str] = field(default_factory=dict)
    processes: list[ChatProcess] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        defaults = {
            **fresh_keys(),
            "KYCBOT_DATABASE__URL": f"sqlite+aiosqlite:///{self.database}",
            "KYCBOT_FLOW__SWEEP_INTERVAL_SECONDS": "0.2",
        }
        self.env = {**defaults, **self.env}

    @property
    def database(self) -> Path:
        """The SQLite file."""
        return self.directory / "kycbot.sqlite3"

    @property
    def log_file(self) -> Path:
        """Where every process started here logs (appended)."""
        return self.directory / "log.txt"

    def environment(self, **overrides: str) -> dict[str, str]:
        """The environment of a process: this world's settings, then `overrides`."""
        return base_environment({**self.env, **overrides})

    def command(self, *args: str) -> list[str]:
        """`kycbot ARGS...` as run by the interpreter of the tests."""
        return [sys.executable, "-m", "bot.cli", *args]

    def start(
        self,
        *,
        user: str = "tester",
        config: Path | None = None,
        timeout: float = TIMEOUT_SECONDS,
        **env: str,
    ) -> ChatProcess:
        """Spawn `kycbot chat` as `user`; `env` adds environment variables for this run only."""
        args = ["chat"]
        if config is not None:
            args += ["--config", str(config)]
        args += ["--log-file", str(self.log_file), "--user", user]
        command = self.command(*args)
        child = pexpect.spawn(
            command[0],
            command[1:],
            env=self.environment(**env),
            cwd=str(self.directory),
            encoding="utf-8",
            timeout=timeout,
            echo=False,
            dimensions=(50, 400),
        )
        process = ChatProcess(child, timeout=timeout)
        self.processes.append(process)
        return process

    def close(self) -> None:
        """Kill every process started here that still runs."""
        for process in self.processes:
            process.kill()


class ChatProcess:
    """One running `kycbot chat`, read and typed into like a person at a terminal."""

    def __init__(self, child: pexpect.spawn, *, timeout: float) -> None:
        self._child = child
        self._timeout = timeout
        self._screen = ""
        self._position = 0  # where the next expect() starts looking
        self._sent_at = 0  # the screen's length when the last line was typed
        self._otps_taken = 0
        self.typed: list[str] = []
        self.exit_status: int | None = None

    # --- reading ---------------------------------------------------------------------------

    @property
    def screen(self) -> str:
        """Everything the process printed so far (line ends as "\\n")."""
        return self._screen

    @property
    def since_last_line(self) -> str:
        """What was printed since the last line was typed."""
        return self._screen[self._sent_at :]

    @property
    def otps_shown(self) -> list[str]:
        """Every OTP of every simulated SMS printed so far."""
        return SMS_LINE.findall(self._screen)

    def _read(self, deadline: float) -> bool:
        """Read what is available until `deadline`; False on timeout or end of output."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        try:
            chunk: str = self._child.read_nonblocking(size=65536, timeout=remaining)
        except (pexpect.TIMEOUT, pexpect.EOF):
            return False
        self._screen += chunk.replace("\r", "")
        return True

    def _fail(self, waited_for: str) -> AssertionError:
        tail = self._screen[max(self._position - 200, 0) :][-3000:]
        alive = "running" if self._child.isalive() else "exited"
        return AssertionError(
            f"waited {self._timeout:g} s for {waited_for}; the process is {alive}; "
            f"screen from a little before the read position:\n{tail}"
        )

    def _wait_for(
        self, pattern: re.Pattern[str], *, start: int, what: str, timeout: float | None = None
    ) -> re.Match[str]:
        deadline = time.monotonic() + (self._timeout if timeout is None else timeout)
        while True:
            found = pattern.search(self._screen, start)
            if found is not None:
                return found
            if not self._read(deadline):
                # One last look: the final read may have brought it.
                found = pattern.search(self._screen, start)
                if found is not None:
                    return found
                raise self._fail(what)

    def expect(self, text: str, *, timeout: float | None = None) -> str:
        """Wait for `text` after the read position, move past it, and return what came before."""
        found = self._wait_for(
            re.compile(re.escape(text)), start=self._position, what=repr(text), timeout=timeout
        )
        before = self._screen[self._position : found.start()]
        self._position = found.end()
        return before

    def expect_re(self, pattern: str, *, timeout: float | None = None) -> re.Match[str]:
        """Wait for the regular expression `pattern` after the read position; move past it."""
        found = self._wait_for(
            re.compile(pattern), start=self._position, what=f"/{pattern}/", timeout=timeout
        )
        self._position = found.end()
        return found

    def watch(self, seconds: float) -> str:
        """Keep reading for `seconds` without typing; return what was printed meanwhile."""
        start = len(self._screen)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not self._read(deadline) and not self._child.isalive():
                break
        return self._screen[start:]

    def count(self, text: str) -> int:
        """How many times `text` appears on the whole screen."""
        return self._screen.count(text)

    def shown_after_position(self, text: str) -> bool:
        """Whether `text` was printed after the read position (without waiting)."""
        return text in self._screen[self._position :]

    # --- typing ----------------------------------------------------------------------------

    def wait_for_prompt(self) -> None:
        """Wait until the bot has handled the last line and asks for the next one."""
        self._wait_for(INPUT_PROMPT, start=self._sent_at, what="the input prompt (you> )")

    def reply(self) -> str:
        """The bot's whole answer to the last line typed (waits for the next input prompt)."""
        prompt = self._wait_for(INPUT_PROMPT, start=self._sent_at, what="the input prompt (you> )")
        return self._screen[self._sent_at : prompt.start()]

    def send(self, line: str) -> None:
        """Type `line` and Enter once the bot is ready for it.

        Later expectations look only at what is printed after this line was typed.
        """
        self.wait_for_prompt()
        self._sent_at = len(self._screen)
        self._position = self._sent_at
        self.typed.append(line)
        self._child.sendline(line)

    def choose(self, label: str) -> None:
        """Press the button `label`: type the number shown as "[N] label" for the last message."""
        self.wait_for_prompt()
        pattern = re.compile(r"\[(\d+)\] " + re.escape(label) + r"(?=   |\n)")
        # The buttons come with the reply to the last line, or with a message the sweeper
        # printed later; the newest one counts.
        self._wait_for(pattern, start=self._sent_at, what=f"a button [N] {label}")
        number = pattern.findall(self._screen, self._sent_at)[-1]
        self.send(str(number))

    def otp(self) -> str:
        """The OTP of the newest simulated SMS that no earlier call returned (waits for one)."""
        deadline = time.monotonic() + self._timeout
        while len(self.otps_shown) <= self._otps_taken:
            if not self._read(deadline):
                raise self._fail("a new simulated SMS line")
        shown = self.otps_shown
        self._otps_taken = len(shown)
        return shown[-1]

    # --- ending ----------------------------------------------------------------------------

    def quit(self) -> int:
        """Type /quit, wait for the goodbye and the end of the process; assert it exited 0."""
        self.send("/quit")
        self.expect("bye: your progress is saved")
        status = self.wait_for_exit()
        assert status == 0, f"kycbot chat exited with {status}:\n{self.since_last_line}"
        return status

    def wait_for_exit(self) -> int | None:
        """Read until the process ends; its exit status (None if killed by a signal)."""
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                chunk: str = self._child.read_nonblocking(
                    size=65536, timeout=max(deadline - time.monotonic(), 0.01)
                )
            except pexpect.EOF:
                break
            except pexpect.TIMEOUT:
                raise self._fail("the process to exit") from None
            self._screen += chunk.replace("\r", "")
        self._child.close()
        self.exit_status = self._child.exitstatus
        return self.exit_status

    def kill(self) -> None:
        """End the process if it still runs (test clean-up)."""
        if self._child.isalive():
            self._child.terminate(force=True)
        self._child.close()
