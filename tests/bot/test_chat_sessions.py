"""End-to-end sessions of `kycbot chat`: the real process in a pseudo terminal, a real SQLite
file, the simulator provider. Assertions are about what the user sees on screen and, where it
matters, what the database holds afterwards.

Texts come from the prompt catalogue (what the user sees by default), so a reworded prompt does
not break these tests, while a wrong prompt, a missing one or one in the wrong place does.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from flows import ProviderFailure
from flows.catalogue import PromptKey
from kyc import SIMULATOR_NUMBERS
from kyc.simulator import RATE_LIMIT_SECONDS
from tests.aadhaar_numbers import corrupt_check_digit, in_script
from tests.bot.chat_process import ChatProcess, ChatWorld
from tests.scenario_tools import (
    another_otp,
    leaks,
    masked,
    opening,
    say,
    spaced,
    sqlite_files,
    synthetic_number,
)

K = PromptKey
F = ProviderFailure
SWEEP = 0.2


# --- helpers ------------------------------------------------------------------------------


def rows(world: ChatWorld, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Run a query on the bot's SQLite file."""
    with closing(sqlite3.connect(world.database)) as connection:
        return list(connection.execute(sql, params).fetchall())


def verification_of(world: ChatWorld, user: str) -> tuple[Any, ...]:
    """The newest verification of terminal user `user`: (state, ciphertext, ended_at)."""
    found = rows(
        world,
        "SELECT v.state, v.aadhaar_ciphertext, v.ended_at FROM verification v "
        'JOIN "user" u ON u.id = v.user_id '
        "WHERE u.channel = 'terminal' AND u.external_id = ? ORDER BY v.id DESC LIMIT 1",
        user,
    )
    assert found, f"no verification stored for {user}"
    return found[0]


def agree(chat: ChatProcess) -> None:
    """Answer the consent notice with "I agree" and wait for the question for the number."""
    chat.expect(say(K.CONSENT_QUESTION))
    chat.choose(say(K.BUTTON_AGREE))
    chat.expect(say(K.ASK_AADHAAR))


def request_otp(chat: ChatProcess, number: str) -> str:
    """Type the number in groups of four, press Send OTP; the OTP the simulator sent."""
    chat.send(spaced(number))
    chat.expect(say(K.CONFIRM_NUMBER, masked_aadhaar=masked(number)))
    chat.choose(say(K.BUTTON_SEND_OTP))
    chat.expect(f"[simulated SMS to the mobile linked with {masked(number)}] OTP ")
    otp = chat.otp()
    chat.expect(opening(K.OTP_SENT) + masked(number))
    chat.expect(say(K.ASK_OTP, attempts_left=3))
    return otp


def assert_record(text: str, number: str) -> None:
    """The masked record: the number's last four digits, initials, a year, a state."""
    assert f"Aadhaar: {masked(number)}\n" in text
    assert re.search(r"\n +Name: [A-Z]\*+ [A-Z]\*+\n", text), text
    assert re.search(r"\n +Date of birth: (19|20)\d\d\n", text), text
    assert re.search(r"\n +Address: [A-Za-z][A-Za-z ]*\n", text), text
    assert number[:8] not in text


# --- scenarios, shared with the privacy test ----------------------------------------------------


def verify_happily(chat: ChatProcess, number: str) -> None:
    """Consent, number with spaces, OTP, verified, /status shows the record."""
    chat.expect(say(K.CONSENT_TITLE))
    notice = chat.expect(say(K.CONSENT_QUESTION))
    assert say(K.CONSENT_PURPOSE) in notice
    assert say(K.CONSENT_STORED) in notice
    chat.expect(f"[1] {say(K.BUTTON_AGREE)}   [2] {say(K.BUTTON_DECLINE)}\n")
    chat.choose(say(K.BUTTON_AGREE))
    chat.expect(say(K.ASK_AADHAAR))
    chat.expect(f"you ({say(K.INPUT_AADHAAR)}, hidden)> ")

    chat.send(spaced(number))
    chat.expect(f"Send the OTP to the mobile linked with {masked(number)}?")
    chat.expect(f"[1] {say(K.BUTTON_SEND_OTP)}   [2] {say(K.BUTTON_CHANGE_NUMBER)}\n")
    chat.choose(say(K.BUTTON_SEND_OTP))
    sms = chat.expect_re(
        re.escape(f"[simulated SMS to the mobile linked with {masked(number)}] OTP ") + r"\d{6}"
    )
    otp = chat.otp()
    assert sms.group(0).endswith(otp)
    chat.expect(say(K.ASK_OTP, attempts_left=3))
    chat.expect(f"you ({say(K.INPUT_OTP)}, hidden)> ")

    chat.send(otp)
    chat.expect(say(K.VERIFIED))
    assert_record(chat.reply(), number)

    chat.send("/status")
    chat.expect(say(K.ALREADY_VERIFIED))
    assert_record(chat.reply(), number)


def three_wrong_otps(chat: ChatProcess, number: str) -> None:
    """A malformed OTP is asked again for free; three wrong ones use up the OTP."""
    agree(chat)
    otp = request_otp(chat, number)
    wrong = another_otp(otp)

    chat.send("12ab")
    chat.expect(say(K.OTP_NOT_SIX_DIGITS))

    chat.send(wrong)
    chat.expect(say(K.OTP_WRONG, attempts_left=2))  # 3 before: "12ab" used none
    chat.send(wrong)
    chat.expect(say(K.OTP_WRONG, attempts_left=1))
    chat.send(wrong)
    chat.expect(say(K.OTP_ATTEMPTS_USED))
    offer = chat.reply()
    assert opening(K.RESEND_WAIT) in offer  # "You can ask for a new OTP ..."
    assert f"] {say(K.BUTTON_RESEND)}" in offer
    assert say(K.VERIFIED) not in chat.screen

    # The right OTP is no use any more either.
    chat.send(otp)
    assert say(K.VERIFIED) not in chat.reply()


def resend_after_cooldown(chat: ChatProcess, number: str, cooldown: int) -> None:
    """A resend too early says how long to wait; afterwards a new OTP replaces the old one."""
    agree(chat)
    first = request_otp(chat, number)
    sent = time.monotonic()

    chat.choose(say(K.BUTTON_RESEND))
    wait = chat.expect_re(re.escape(opening(K.RESEND_WAIT)) + r"(\d+) seconds")
    assert 1 <= int(wait.group(1)) <= cooldown
    assert chat.otps_shown == [first], "a resend pressed too early sent an OTP"

    chat.watch(max(sent + cooldown + 0.3 - time.monotonic(), 0))
    chat.choose(say(K.BUTTON_RESEND))
    second = chat.otp()
    assert second != first
    chat.expect(say(K.ASK_OTP, attempts_left=3))

    chat.send(first)
    answer = chat.reply()
    assert say(K.VERIFIED) not in answer
    assert say(K.OTP_WRONG, attempts_left=2) in answer or say(K.OTP_SESSION_INVALID) in answer

    chat.send(second)
    chat.expect(say(K.VERIFIED))


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ChatWorld]:
    """A database, fresh keys and a log file; every chat started in it is killed afterwards."""
    chats = ChatWorld(tmp_path / "kycbot")
    yield chats
    chats.close()


# --- 1. the happy path --------------------------------------------------------------------------


def test_happy_path_shows_only_the_masked_record(world: ChatWorld) -> None:
    number = synthetic_number()
    chat = world.start(user="asha")
    verify_happily(chat, number)
    assert chat.quit() == 0

    assert rows(world, "SELECT aadhaar_masked, length(aadhaar_hmac) FROM kyc_result") == [
        (masked(number), 64)
    ]
    state, ciphertext, ended_at = verification_of(world, "asha")
    assert (state, ciphertext) == ("verified", None)
    assert ended_at is not None


# --- 2. invalid numbers -------------------------------------------------------------------------


def test_each_invalid_number_gets_its_own_message_until_the_fifth_ends_it(
    world: ChatWorld,
) -> None:
    number = synthetic_number()
    chat = world.start(user="typo")
    agree(chat)
    entries = [
        ("abcd efgh ijkl", say(K.AADHAAR_NOT_DIGITS)),  # "digits only"
        (spaced(number)[:-1], say(K.AADHAAR_WRONG_LENGTH, digit_count=11)),  # "had 11"
        (number + number[:4], say(K.AADHAAR_VIRTUAL_ID)),  # 16 digits: "Virtual ID"
        ("1" + number[1:], say(K.AADHAAR_BAD_FIRST_DIGIT)),  # "never starts with 0 or 1"
    ]
    for tries_left, (typed, problem) in zip(range(4, 0, -1), entries, strict=True):
        chat.send(typed)
        answer = chat.reply()
        assert problem in answer
        assert say(K.AADHAAR_TRIES_LEFT, tries_left=tries_left) in answer
        assert answer.index(problem) < answer.index(say(K.ASK_AADHAAR))
        chat.expect(f"you ({say(K.INPUT_AADHAAR)}, hidden)> ")

    chat.send(corrupt_check_digit(number))  # the fifth: "mistyped"
    answer = chat.reply()
    assert say(K.AADHAAR_BAD_CHECKSUM) in answer
    assert say(K.TOO_MANY_INVALID_NUMBERS) in answer
    assert say(K.ASK_AADHAAR) not in answer
    assert verification_of(world, "typo")[0] == "failed"

    chat.send("/start")
    chat.expect(say(K.CONSENT_TITLE))
    agree(chat)
    chat.send(in_script(spaced(number), "०"))  # Devanagari digits
    chat.expect(say(K.CONFIRM_NUMBER, masked_aadhaar=masked(number)))
    assert chat.quit() == 0


# --- 3. wrong OTPs ------------------------------------------------------------------------------


def test_three_wrong_otps_use_up_the_otp_and_offer_a_new_one(world: ChatWorld) -> None:
    chat = world.start(user="wrong")
    three_wrong_otps(chat, synthetic_number())
    assert chat.quit() == 0
    assert rows(world, "SELECT count(*) FROM kyc_result") == [(0,)]


# --- 4. OTP expiry ------------------------------------------------------------------------------


def test_expired_otp_is_announced_by_itself_and_no_longer_verifies(world: ChatWorld) -> None:
    number = synthetic_number()
    chat = world.start(user="late", KYCBOT_FLOW__OTP_TTL_SECONDS="2")
    agree(chat)
    otp = request_otp(chat, number)
    typed_before = len(chat.typed)

    chat.expect(say(K.OTP_EXPIRED), timeout=2 + 10 * SWEEP + 3)
    assert len(chat.typed) == typed_before, "the expiry must come without any input"
    assert f"] {say(K.BUTTON_RESEND)}" in chat.screen[-300:]

    chat.send(otp)
    answer = chat.reply()
    assert say(K.VERIFIED) not in answer
    assert say(K.OTP_DEAD) in answer
    assert chat.quit() == 0
    assert rows(world, "SELECT count(*) FROM kyc_result") == [(0,)]


# --- 5. idle timeout ----------------------------------------------------------------------------


def test_idle_verification_ends_once_and_start_begins_anew(world: ChatWorld) -> None:
    number = synthetic_number()
    chat = world.start(user="idle", KYCBOT_FLOW__IDLE_TIMEOUT_SECONDS="2")
    agree(chat)
    chat.send(spaced(number))
    chat.expect(say(K.CONFIRM_NUMBER, masked_aadhaar=masked(number)))
    assert verification_of(world, "idle")[1] is not None  # the number is kept, encrypted

    chat.expect("nothing happened for", timeout=2 + 10 * SWEEP + 3)
    chat.watch(6 * SWEEP)
    assert chat.count(opening(K.TIMED_OUT)) == 1
    state, ciphertext, ended_at = verification_of(world, "idle")
    assert (state, ciphertext) == ("timed_out", None)
    assert ended_at is not None

    chat.send("/start")
    chat.expect(say(K.CONSENT_TITLE))
    chat.expect(say(K.CONSENT_QUESTION))
    assert say(K.IN_PROGRESS) not in chat.reply()
    assert chat.quit() == 0


# --- 6. resend cooldown -------------------------------------------------------------------------


def test_resend_waits_for_the_cooldown_then_replaces_the_otp(world: ChatWorld) -> None:
    chat = world.start(user="again", KYCBOT_FLOW__RESEND_COOLDOWN_SECONDS="3")
    resend_after_cooldown(chat, synthetic_number(), cooldown=3)
    assert chat.quit() == 0


# --- 7. cancel ----------------------------------------------------------------------------------


def test_cancel_mid_flow_erases_the_number(world: ChatWorld) -> None:
    chat = world.start(user="stop")
    agree(chat)
    request_otp(chat, synthetic_number())
    assert verification_of(world, "stop")[1] is not None

    chat.send("/cancel")
    chat.expect(say(K.CANCELLED))
    state, ciphertext, ended_at = verification_of(world, "stop")
    assert (state, ciphertext) == ("cancelled", None)
    assert ended_at is not None

    chat.send("/status")
    chat.expect(say(K.STATUS_NOT_VERIFIED))
    assert chat.quit() == 0


# --- 8. quit and resume -------------------------------------------------------------------------


def test_quit_after_otp_sent_and_resume_in_a_new_process(world: ChatWorld) -> None:
    number = synthetic_number()
    first = world.start(user="resume")
    agree(first)
    otp = request_otp(first, number)
    assert first.quit() == 0

    second = world.start(user="resume")
    second.expect(say(K.IN_PROGRESS))
    second.expect(say(K.ASK_OTP, attempts_left=3))
    second.expect(f"you ({say(K.INPUT_OTP)}, hidden)> ")
    assert second.otps_shown == [], "resuming must not send another OTP"
    second.send(otp)
    second.expect(say(K.VERIFIED))
    assert_record(second.reply(), number)
    assert second.quit() == 0


# --- 9. the simulator's failing numbers ---------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "told", "asked_for_the_number_again"),
    [
        pytest.param(F.NO_MOBILE_LINKED, K.PROVIDER_NO_MOBILE, True, id="no-mobile"),
        pytest.param(F.RATE_LIMITED, K.PROVIDER_RATE_LIMITED, False, id="rate-limited"),
        pytest.param(F.PROVIDER_DOWN, K.PROVIDER_DOWN, False, id="provider-down"),
        pytest.param(F.INVALID_AADHAAR, K.PROVIDER_INVALID_AADHAAR, True, id="invalid-at-uidai"),
    ],
)
def test_simulator_failures_are_explained(
    world: ChatWorld, failure: ProviderFailure, told: PromptKey, asked_for_the_number_again: bool
) -> None:
    number = SIMULATOR_NUMBERS[failure]
    # str.format ignores the values a prompt does not use.
    message = say(told, masked_aadhaar=masked(number), seconds=RATE_LIMIT_SECONDS)
    then = (
        say(K.ASK_AADHAAR)
        if asked_for_the_number_again
        else say(K.CONFIRM_NUMBER, masked_aadhaar=masked(number))
    )
    chat = world.start(user=f"sim-{failure.value}")
    agree(chat)
    chat.send(spaced(number))
    chat.expect(say(K.CONFIRM_NUMBER, masked_aadhaar=masked(number)))
    chat.choose(say(K.BUTTON_SEND_OTP))
    answer = chat.reply()
    assert message in answer
    assert then in answer.split(message, 1)[1]
    assert chat.otps_shown == []
    assert chat.quit() == 0


# --- 10. declining consent ----------------------------------------------------------------------


def test_declining_consent_records_only_the_refusal(world: ChatWorld) -> None:
    chat = world.start(user="no")
    chat.expect(say(K.CONSENT_QUESTION))
    chat.choose(say(K.BUTTON_DECLINE))
    chat.expect(say(K.CONSENT_DECLINED))  # "You chose not to continue"
    assert chat.quit() == 0

    assert rows(world, "SELECT decision FROM consent") == [("declined",)]
    assert rows(world, "SELECT count(*) FROM kyc_result") == [(0,)]
    assert verification_of(world, "no")[:2] == ("declined", None)


# --- 11. commands at the OTP step ---------------------------------------------------------------


def test_unknown_command_and_help_repeat_the_otp_prompt(world: ChatWorld) -> None:
    chat = world.start(user="lost")
    agree(chat)
    otp = request_otp(chat, synthetic_number())

    chat.send("/frobnicate")
    answer = chat.reply()
    assert answer.index(say(K.UNKNOWN_COMMAND)) < answer.index(say(K.ASK_OTP, attempts_left=3))
    chat.expect(f"you ({say(K.INPUT_OTP)}, hidden)> ")

    chat.send("/help")
    answer = chat.reply()
    help_first_line = say(K.HELP).splitlines()[0]
    assert answer.index(help_first_line) < answer.index(say(K.ASK_OTP, attempts_left=3))
    chat.expect(f"you ({say(K.INPUT_OTP)}, hidden)> ")

    chat.send(otp)  # nothing was used up
    chat.expect(say(K.VERIFIED))
    assert chat.quit() == 0


# --- 12. privacy --------------------------------------------------------------------------------


def test_no_number_or_otp_reaches_the_database_or_the_debug_log(tmp_path: Path) -> None:
    world = ChatWorld(tmp_path / "kycbot", env={"KYCBOT_LOGGING__LEVEL": "DEBUG"})
    try:
        numbers = [synthetic_number() for _ in range(3)]
        happy = world.start(user="p-happy")
        verify_happily(happy, numbers[0])
        happy.quit()
        wrong = world.start(user="p-wrong")
        three_wrong_otps(wrong, numbers[1])
        wrong.quit()
        again = world.start(user="p-again", KYCBOT_FLOW__RESEND_COOLDOWN_SECONDS="3")
        resend_after_cooldown(again, numbers[2], cooldown=3)

        chats = (happy, wrong, again)
        otps = {otp for chat in chats for otp in chat.otps_shown}
        otps |= {typed for chat in chats for typed in chat.typed if re.fullmatch(r"\d{6}", typed)}
        assert len(otps) >= 5  # three sent OTPs plus the wrong ones typed

        live = leaks(
            [*sqlite_files(world.database), world.log_file], numbers, otps
        )  # while the last process still has the WAL open
        again.quit()
        assert live + leaks([*sqlite_files(world.database), world.log_file], numbers, otps) == []
    finally:
        world.close()

    log = world.log_file.read_text(encoding="utf-8")
    assert "-[TextSent]-> verifying_otp" in log, "the log recorded no transitions"
    assert "-[KycVerified]-> verified" in log
    assert log.count("\n") >= 20


# --- 13. configuration errors -------------------------------------------------------------------


def _run(
    world: ChatWorld,
    *args: str,
    unset: tuple[str, ...] = (),
    extra: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    environment = world.environment() | (extra or {})
    for name in unset:
        del environment[name]
    return subprocess.run(
        world.command(*args),
        env=environment,
        cwd=world.directory,
        capture_output=True,
        text=True,
        timeout=15,
        check=False,
    )


def _one_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_unknown_config_key_stops_the_chat_naming_it(world: ChatWorld) -> None:
    config = world.directory / "config.toml"
    config.write_text("[flow]\notp_ttl_secs = 3\n", encoding="utf-8")
    done = _run(world, "chat", "--config", str(config), "--user", "x")
    assert done.returncode == 2
    assert "flow.otp_ttl_secs" in _one_line(done.stderr)
    assert not world.database.exists()


def test_missing_hmac_key_stops_the_chat_naming_it(world: ChatWorld) -> None:
    done = _run(world, "chat", "--user", "x", unset=("KYCBOT_SECURITY__HMAC_KEY",))
    assert done.returncode == 2
    assert "security.hmac_key" in _one_line(done.stderr)
    assert "KYCBOT_SECURITY__ENCRYPTION_KEY" not in done.stderr


def test_config_check_accepts_a_good_file_and_rejects_a_bad_one(world: ChatWorld) -> None:
    good = world.directory / "good.toml"
    good.write_text("[flow]\notp_ttl_seconds = 300\n", encoding="utf-8")
    done = _run(world, "config", "check", str(good))
    assert done.returncode == 0, done.stderr
    assert "ok" in done.stdout

    bad = world.directory / "bad.toml"
    bad.write_text("[flow]\notp_ttl_seconds = 300\nresend_cooldown = 5\n", encoding="utf-8")
    done = _run(world, "config", "check", str(bad))
    assert done.returncode == 2
    assert "flow.resend_cooldown" in _one_line(done.stderr)


def test_db_upgrade_of_an_unreachable_database_says_so_in_one_line(world: ChatWorld) -> None:
    # Nothing listens on port 1; the password must not appear in what is printed.
    url = "postgresql+asyncpg://kycbot:s3cret-pw@127.0.0.1:1/kycbot"
    done = _run(world, "db", "upgrade", extra={"KYCBOT_DATABASE__URL": url})
    assert done.returncode == 1
    assert "cannot upgrade the database" in _one_line(done.stderr)
    assert "s3cret-pw" not in done.stderr + done.stdout


def test_a_provider_without_its_credentials_stops_the_start_naming_the_variable(
    world: ChatWorld,
) -> None:
    extra = {"KYCBOT_PROVIDER__ORDER": "sandbox", "KYCBOT_PROVIDERS__SANDBOX__API_KEY": "key-4f1c"}
    done = _run(world, "chat", "--user", "x", extra=extra)
    assert done.returncode == 2
    line = _one_line(done.stderr)
    assert "KYCBOT_PROVIDERS__SANDBOX__API_SECRET" in line
    assert "key-4f1c" not in done.stderr
    # Never a silent fall back to the simulator: nothing started, nothing was stored.
    assert not world.database.exists()
