"""`kycbot prompts preview` and the prompt checks of `kycbot config check`, through the real CLI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from flows.catalogue import CATALOGUE, PromptKey
from flows.prompts import shipped_prompt
from tests.bot.chat_process import fresh_keys

ROOT = Path(__file__).resolve().parents[2]
K = PromptKey
HINDI_DATE = re.compile(r"\d\d [\u0900-\u097f]+ \d{4}, \d\d:\d\d IST")
TAMIL_OTP_WRONG = "OTP தவறு. மீதமுள்ள முயற்சிகள்: {attempts_left}."


def kycbot(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `kycbot ARGS` from `tmp_path` with fresh keys and no one else's KYCBOT_* settings."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("KYCBOT_")}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=tmp_path,
        env=environ | fresh_keys() | {"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def config(tmp_path: Path, text: str) -> str:
    """Write `text` as a config file; its path."""
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def sections(preview: str) -> dict[str, list[str]]:
    """The preview's "== Group ==" sections and the prompt names under each, in order."""
    found: dict[str, list[str]] = {}
    current = ""
    for line in preview.splitlines():
        if line.startswith("== "):
            current = line.strip("= ")
            found[current] = []
        elif current and re.match(r"^[a-z_]+( \[.*\])?:$", line):
            found[current].append(line.split(":")[0].split(" ")[0])
    return found


def test_preview_prints_every_hindi_prompt_grouped_with_sample_values(tmp_path: Path) -> None:
    done = kycbot(tmp_path, "prompts", "preview", "--lang", "hi")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith(
        f"Prompts in hi: {len(PromptKey)} of {len(PromptKey)} in hi, 0 in English"
    )
    groups = sections(out)
    assert list(groups)[:3] == ["Consent", "Buttons", "Aadhaar number"]
    listed = [name for names in groups.values() for name in names]
    assert sorted(listed) == sorted(key.value for key in PromptKey)  # each once
    order = [key.value for key in CATALOGUE]
    for names in groups.values():
        assert names == sorted(names, key=order.index), names  # catalogue order within a group
    assert "[falls back to English]" not in out
    assert f"\nconsent_title:\n    {shipped_prompt('hi', K.CONSENT_TITLE)}\n" in out
    assert "क्या XXXX XXXX 1234 से जुड़े मोबाइल पर OTP भेजें?" in out
    assert "कृपया 6 अंकों का OTP लिखें (बचे हुए प्रयास: 2)।" in out
    assert HINDI_DATE.search(out), "the lock date is not shown in Hindi in the configured zone"


def test_preview_marks_prompts_a_language_does_not_have(tmp_path: Path) -> None:
    path = config(tmp_path, f'[prompts.ta]\notp_wrong = "{TAMIL_OTP_WRONG}"\n')
    done = kycbot(tmp_path, "prompts", "preview", "--lang", "ta", "--config", path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"\notp_wrong:\n    {TAMIL_OTP_WRONG.format(attempts_left=2)}\n" in out
    title = CATALOGUE[K.CONSENT_TITLE].default
    assert f"\nconsent_title [falls back to English]:\n    {title}\n" in out
    assert f"1 of {len(PromptKey)} in ta, {len(PromptKey) - 1} in English" in out


def test_preview_of_an_unknown_language_exits_2_with_one_line(tmp_path: Path) -> None:
    done = kycbot(tmp_path, "prompts", "preview", "--lang", "xx")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("unknown language 'xx': known are en, hi")
    assert len(done.stderr.strip().splitlines()) == 1


def test_config_check_warns_about_missing_translations_without_failing(tmp_path: Path) -> None:
    path = config(
        tmp_path,
        '[language]\noffered = ["en", "hi", "ta"]\n'
        f'[prompts.ta]\notp_wrong = "{TAMIL_OTP_WRONG}"\n',
    )
    done = kycbot(tmp_path, "config", "check", path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("config ok:")
    [warning] = done.stderr.strip().splitlines()
    missing = len(PromptKey) - 1
    assert warning.startswith(
        f"warning: prompts.ta: {missing} of {len(PromptKey)} prompts missing, "
        "shown in English instead: consent_title, consent_purpose, "
    ), warning
    assert "otp_wrong" not in warning  # Tamil has it
    assert "prompts.hi" not in done.stderr  # Hindi is shipped complete


def test_config_check_names_the_key_of_a_bad_hindi_placeholder(tmp_path: Path) -> None:
    unknown = config(tmp_path, '[prompts.hi]\notp_wrong = "गलत OTP। {tries} प्रयास बाकी।"\n')
    done = kycbot(tmp_path, "config", "check", unknown)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "config error: prompts.hi.otp_wrong: uses unknown placeholder {tries} "
        "(allowed: attempts_left)\n"
    )
    missing = config(tmp_path, '[prompts.hi]\nconfirm_number = "क्या OTP भेजें?"\n')
    done = kycbot(tmp_path, "config", "check", missing)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "config error: prompts.hi.confirm_number: is missing placeholder {masked_aadhaar}\n"
    )


def test_offered_languages_must_include_the_default(tmp_path: Path) -> None:
    path = config(tmp_path, '[language]\ndefault = "hi"\noffered = ["en"]\n')
    done = kycbot(tmp_path, "config", "check", path)
    assert done.returncode == 2
    assert done.stderr == "config error: language.offered: must include the default language 'hi'\n"
