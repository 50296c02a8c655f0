"""The real Runner and sweeper on a real database, driven by Hypothesis with random user events,
provider answers and clock jumps; the invariants are read from the database and the chat after
every step. `decide` alone is walked in tests/flows/test_decide.py; this goes through storage.
"""

from __future__ import annotations

import asyncio
import base64
import math
import os
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from bot.config import Settings, load_settings
from bot.runner import Runner
from bot.sweeper import Sweeper
from flows import (
    ButtonAction,
    CancelRequested,
    DataDeletionRequested,
    Event,
    HelpRequested,
    StartRequested,
    State,
    StatusRequested,
    TextSent,
    UnknownCommandSent,
    UnsupportedMessageSent,
    event_for_button,
)
from storage import NumberVault, UserKey
from tests.aadhaar_numbers import corrupt_check_digit, make_aadhaar
from tests.bot.runner_invariants import (
    TERMINAL,
    check_deadlines,
    check_number,
    is_due,
    is_sensitive,
)
from tests.bot.runner_machine_parts import (
    Clock,
    RequestAnswer,
    ScriptedProvider,
    Snapshot,
    Store,
    VerifyAnswer,
    read_snapshot,
)
from tests.conftest import BACKENDS
from tests.fakes.channel import RecordingChannel

CHANNEL = "test"
USERS = ("anu", "bala")
NUMBERS = {
    user: make_aadhaar(f"{5 + index}4829301{index}7{index}") for index, user in enumerate(USERS)
}
OTHER_NUMBERS = {user: make_aadhaar(f"{5 + i}1029384{i}5{i}") for i, user in enumerate(USERS)}
APOLOGY = "Something went wrong on our side"
BUTTONS = [action for action in ButtonAction if action is not ButtonAction.USE_DIGILOCKER]
COMMANDS: dict[str, Event] = {
    "cancel": CancelRequested(),
    "status": StatusRequested(),
    "help": HelpRequested(),
    "delete_my_data": DataDeletionRequested(),
    "unknown": UnknownCommandSent(),
}
# Seconds to a day, mostly short: a long jump ends every verification in progress.
SHORT = st.integers(1, 120)
JUMPS = st.one_of(SHORT, SHORT, st.integers(120, 900), st.integers(900, 86_400))
# Mostly a working provider, so verifications get far enough for the limits to matter.
REQUEST_ANSWERS = st.sampled_from([RequestAnswer.SENT] * 3 + list(RequestAnswer))
CHECK_ANSWERS = st.sampled_from([VerifyAnswer.HONEST] * 3 + list(VerifyAnswer))
OTP_MOVES = st.sampled_from(["right", "wrong", "wrong", "stale", "malformed", "resend"])
PROGRESS_BUTTONS: dict[str, ButtonAction] = {
    State.AWAIT_CONSENT: ButtonAction.AGREE,
    State.AWAIT_CONFIRM: ButtonAction.SEND_OTP,
    State.AWAIT_RESEND: ButtonAction.RESEND,
}


def machine_settings() -> Settings:
    """Fresh keys, and limits small enough that a walk of a few dozen steps reaches them."""
    limits = {
        "otp_attempts": 2,
        "max_otp_sends": 2,
        "max_otp_requests_per_day": 3,
        "max_invalid_entries": 3,
        "max_failed_verifications": 3,
    }
    environ = {f"KYCBOT_FLOW__{key.upper()}": str(value) for key, value in limits.items()}
    environ["KYCBOT_SECURITY__HMAC_KEY"] = "m" * 40
    environ["KYCBOT_SECURITY__ENCRYPTION_KEY"] = base64.b64encode(os.urandom(32)).decode()
    return load_settings(None, environ)


class RunnerMachine(RuleBasedStateMachine):
    """A few users, one scripted provider, one clock, one fresh database per example."""

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.settings = machine_settings()
        self.limits = self.settings.flow
        self.clock = Clock()
        self.provider = ScriptedProvider(clock=self.clock)
        self.vault = NumberVault(
            encryption_key=self.settings.security.encryption_key_bytes(),
            hmac_key=self.settings.security.hmac_key_bytes(),
        )
        self.database = self.loop.run_until_complete(store.fresh())
        self.runner = Runner(
            settings=self.settings,
            database=self.database,
            provider=self.provider,
            vault=self.vault,
            clock=self.clock,
        )
        self.channels = {user: RecordingChannel() for user in USERS}
        self.sweeper = Sweeper(
            runner=self.runner,
            database=self.database,
            channel=CHANNEL,
            channel_for=lambda key: self.channels[key.external_id],
            interval_seconds=1,
            clock=self.clock,
        )
        self.snapshot = Snapshot(users=[], verifications=[], results=[], texts=[])
        self.secrets: set[str] = set()  # every full number typed and every OTP sent or typed
        self.sends = Counter[int]()  # OTPs the provider sent, per verification id
        self.windows: dict[str, tuple[datetime, int]] = {}  # per user: window start, sends
        self.ended: dict[int, tuple[object, ...]] = {}  # terminal verifications as first seen
        self.erased: set[str] = set()  # users erased by the last rule

    def teardown(self) -> None:
        self.loop.run_until_complete(self.database.dispose())
        self.loop.close()

    # --- carrying out events ----------------------------------------------------------------

    def _handle(self, user: str, event: Event, *, pressed_at: str | None = None) -> None:
        """One user event through the runner, checking what that user saw and what was sent."""
        channel = self.channels[user]
        shown, deleted, sent = len(channel.messages), channel.deleted, len(self.provider.sent)
        live = self._live(user)
        self.provider.caller = user
        self.loop.run_until_complete(
            self.runner.handle(UserKey(CHANNEL, user), event, channel, pressed_at=pressed_at)
        )
        for otp in self.provider.sent[sent:]:
            self.secrets.add(otp.otp)
            # A request is only made for a verification in progress, which it belongs to.
            assert live is not None
            self._count_send(user, int(str(live["id"])), otp.at)
        assert len(channel.messages) > shown, f"{event.name} got no reply"
        self._check_replies(channel, shown)
        if isinstance(event, TextSent) and is_sensitive(event.text):
            assert channel.deleted > deleted, "a message with a number or an OTP was left"

    def _answer_from(self, data: st.DataObject) -> None:
        """The provider's answers to calls made by the coming event are drawn when asked."""
        self.provider.choose_request = lambda: data.draw(REQUEST_ANSWERS, label="request")
        self.provider.choose_check = lambda: data.draw(CHECK_ANSWERS, label="check")

    def _read(self) -> Snapshot:
        return self.loop.run_until_complete(self.database.run(read_snapshot))

    def _live(self, user: str) -> dict[str, object] | None:
        """The user's verification in progress, read now."""
        return self._read().live(user)

    def _count_send(self, user: str, verification: int, at: datetime) -> None:
        self.sends[verification] += 1
        assert self.sends[verification] <= self.limits.max_otp_sends
        started, count = self.windows.get(user, (at, 0))
        if at - started >= timedelta(days=1):
            started, count = at, 0
        self.windows[user] = (started, count + 1)
        assert count + 1 <= self.limits.max_otp_requests_per_day

    def _check_replies(self, channel: RecordingChannel, start: int) -> None:
        for message in channel.messages[start:]:
            shown = " ".join(
                [message.text, message.input_placeholder or ""]
                + [button.label for button in message.buttons]
            )
            assert APOLOGY not in shown, "the runner failed on this step"
            assert not any(secret in shown for secret in self.secrets), "a secret was shown"

    # --- rules: the user ----------------------------------------------------------------------

    @rule(user=st.sampled_from(USERS))
    def start(self, user: str) -> None:
        self._handle(user, StartRequested())

    @rule(user=st.sampled_from(USERS), moves=st.integers(1, 8), data=st.data())
    def follow_the_prompt(self, user: str, moves: int, data: st.DataObject) -> None:
        """A cooperative user doing what each step asks (sometimes mistyping the OTP, or asking
        for another), so the walk gets past the consent and on to the limits."""
        for _ in range(moves):
            live = self._live(user)
            state = str(live["state"]) if live else "idle"
            move = data.draw(OTP_MOVES) if state == State.AWAIT_OTP else "button"
            button = ButtonAction.RESEND if move == "resend" else PROGRESS_BUTTONS.get(state)
            resend_at = live["resend_at"] if live else None
            if button is not None and isinstance(resend_at, datetime):
                # A patient user waits out the cooldown before asking again.
                wait = (resend_at - self.clock()).total_seconds()
                if wait > 0:
                    self.time_passes(math.ceil(wait))
                    continue
            if button is not None:
                self.press(user, button, "latest", data)
            elif state == State.AWAIT_AADHAAR:
                self.type_number(user, "valid")
            elif state == State.AWAIT_OTP:
                self.type_otp(user, move, 0, data)
            else:
                self.start(user)

    @rule(
        user=st.sampled_from(USERS),
        action=st.sampled_from(BUTTONS),
        which=st.sampled_from(["latest", "first", "bare"]),
        data=st.data(),
    )
    def press(self, user: str, action: ButtonAction, which: str, data: st.DataObject) -> None:
        """A button of the latest or the first message that had it, or the bare event."""
        carrying = [
            message
            for message in self.channels[user].messages
            if any(button.action is action for button in message.buttons)
        ]
        pressed_at = None
        if which != "bare" and carrying:
            pressed_at = carrying[-1 if which == "latest" else 0].step
        if action is ButtonAction.ERASE_DATA:
            self.erased.add(user)
        self._answer_from(data)
        self._handle(user, event_for_button(action), pressed_at=pressed_at)

    @rule(
        user=st.sampled_from(USERS),
        kind=st.sampled_from(["valid", "other", "bad_checksum", "virtual_id", "short", "words"]),
    )
    def type_number(self, user: str, kind: str) -> None:
        typed = {
            "valid": NUMBERS[user],
            "other": OTHER_NUMBERS[user],
            "bad_checksum": corrupt_check_digit(NUMBERS[user]),
            "virtual_id": NUMBERS[user] + "4821",
            "short": NUMBERS[user][:7],
            "words": "my aadhaar number",
        }[kind]
        if kind in ("valid", "other", "bad_checksum", "virtual_id"):
            self.secrets.add(typed)
        self._handle(user, TextSent(typed))

    @rule(
        user=st.sampled_from(USERS),
        kind=st.sampled_from(["right", "stale", "wrong", "malformed"]),
        noise=st.integers(0, 999_999),
        data=st.data(),
    )
    def type_otp(self, user: str, kind: str, noise: int, data: st.DataObject) -> None:
        live = self._live(user)
        current = self.provider.otp_of(str(live["otp_reference"])) if live else None
        earlier = [sent.otp for sent in self.provider.sent if sent.caller == user]
        typed = f"{noise:06d}"
        if kind == "right" and current is not None:
            typed = current
        elif kind == "stale" and earlier:
            typed = earlier[0]
        elif kind == "wrong" and current is not None:
            typed = f"{(int(current) + 1 + noise % 999_999) % 1_000_000:06d}"
        elif kind == "malformed":
            typed = f"{noise:06d}"[:4] + "ab"
        if kind != "malformed":
            self.secrets.add(typed)
        self._answer_from(data)
        self._handle(user, TextSent(typed))

    @rule(user=st.sampled_from(USERS), command=st.sampled_from([*sorted(COMMANDS), "photo"]))
    def send_command(self, user: str, command: str) -> None:
        """A command, or a photo whose caption holds the user's number."""
        if command == "photo":
            self.secrets.add(NUMBERS[user])
            self._handle(user, UnsupportedMessageSent(caption=NUMBERS[user]))
        else:
            self._handle(user, COMMANDS[command])

    # --- rules: the clock ----------------------------------------------------------------------

    @rule(seconds=JUMPS)
    def time_passes(self, seconds: int) -> None:
        """The clock jumps and the sweeper runs: everyone due is told, once."""
        self.clock.advance(seconds)
        now = self.clock()
        stored = self._read()
        due = {user for user in USERS if (live := stored.live(user)) and is_due(live, now)}
        shown = {user: len(self.channels[user].messages) for user in USERS}
        assert self.loop.run_until_complete(self.sweeper.sweep_once()) == len(due)
        for user in USERS:
            told = len(self.channels[user].messages) > shown[user]
            assert told == (user in due), f"{user}: due {user in due}, told {told}"
            self._check_replies(self.channels[user], shown[user])
        assert self.loop.run_until_complete(self.sweeper.sweep_once()) == 0

    # --- invariants -----------------------------------------------------------------------------

    @invariant()
    def database_holds_together(self) -> None:
        before, self.snapshot = self.snapshot, self._read()
        self._check_users(before)
        for row in self.snapshot.verifications:
            self._check_counters(row)
            check_deadlines(row)
            check_number(row, self.vault, self.secrets)
            self._check_terminal(row)
        present = {int(str(row["id"])) for row in self.snapshot.verifications}
        for gone in set(self.ended) - present:
            del self.ended[gone]  # only an erasure removes rows; _check_users saw it was one
        for gone in set(self.sends) - present:
            del self.sends[gone]  # SQLite may give an erased verification's id to the next one
        assert not any(secret in value for value in self.snapshot.texts for secret in self.secrets)
        self.erased.clear()

    def _check_users(self, before: Snapshot) -> None:
        for row in self.snapshot.users:
            assert int(str(row["otp_requests_in_window"])) <= self.limits.max_otp_requests_per_day
            assert int(str(row["failures_in_window"])) <= self.limits.max_failed_verifications
        for user in USERS:
            if before.user_id(user) is not None and self.snapshot.user_id(user) is None:
                assert user in self.erased, f"{user} vanished without an erasure"
                # The 24-hour window outlives the erasure (storage.kept_limits): the model keeps
                # counting, so coming back never buys more OTP requests in a day.

    def _check_counters(self, row: dict[str, object]) -> None:
        vid = int(str(row["id"]))
        assert row["otp_sends"] == self.sends[vid] <= self.limits.max_otp_sends
        assert 0 <= int(str(row["otp_attempts_left"])) <= self.limits.otp_attempts
        assert 0 <= int(str(row["invalid_entries"])) <= self.limits.max_invalid_entries

    def _check_terminal(self, row: dict[str, object]) -> None:
        vid = int(str(row["id"]))
        if str(row["state"]) not in TERMINAL:
            assert vid not in self.ended, f"verification {vid} left its terminal state"
            return
        results = [result for result in self.snapshot.results if result["verification_id"] == vid]
        seen = (row["state"], row["ended_at"], row["updated_at"], row["version"], *results)
        assert self.ended.setdefault(vid, seen) == seen, (
            f"verification {vid} changed after it ended"
        )


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_runner_keeps_its_invariants_under_random_events(backend: str, tmp_path: Path) -> None:
    store = Store(backend, tmp_path)
    try:

        class OnThisStore(RunnerMachine):
            def __init__(self) -> None:
                super().__init__(store)

        run_state_machine_as_test(
            OnThisStore,
            settings=settings(
                # PostgreSQL costs a round trip per statement: fewer walks keep it quick.
                max_examples=30 if backend == "sqlite" else 12,
                # Long walks: the limits lie a dozen cooperative steps deep.
                stateful_step_count=50,
                deadline=None,
                # Reproducible in CI; a developer's run keeps exploring new sequences.
                derandomize=bool(os.environ.get("CI")),
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    finally:
        store.close()
