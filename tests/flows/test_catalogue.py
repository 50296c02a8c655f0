"""The prompt catalogue: complete, renderable, and a checker that rejects bad overrides."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows import CATALOGUE, PromptKey, PromptSpec, placeholder_problem

SAMPLE_VALUES: dict[str, object] = {
    "attempts_left": 2,
    "tries_left": 4,
    "digit_count": 11,
    "seconds": 45,
    "minutes": 10,
    "sends_left": 2,
    "max_sends": 3,
    "max_requests": 5,
    "masked_aadhaar": "XXXX XXXX 4821",
    "until": datetime(2026, 1, 2, tzinfo=UTC),
    "verified_at": datetime(2026, 1, 1, tzinfo=UTC),
    "name": "R*** K****",
    "date_of_birth": "1990",
    "gender": "M",
    "address": "Karnataka",
}


def test_every_prompt_key_has_exactly_one_entry() -> None:
    assert set(CATALOGUE) == set(PromptKey)


@pytest.mark.parametrize("key", list(PromptKey))
def test_default_renders_with_its_declared_placeholders(key: PromptKey) -> None:
    spec = CATALOGUE[key]
    values = {name: SAMPLE_VALUES[name] for name in spec.placeholders}

    rendered = spec.default.format_map(values)

    assert rendered.strip()
    assert "{" not in rendered
    assert "}" not in rendered
    for name in spec.placeholders:
        assert str(values[name]) in rendered


@pytest.mark.parametrize("key", list(PromptKey))
def test_default_passes_its_own_check(key: PromptKey) -> None:
    assert placeholder_problem(CATALOGUE[key].default, CATALOGUE[key]) is None


@pytest.mark.parametrize("key", list(PromptKey))
def test_every_declared_placeholder_is_a_plain_name(key: PromptKey) -> None:
    for name in CATALOGUE[key].placeholders:
        assert name.isidentifier()
        assert name in SAMPLE_VALUES


SECONDS = PromptSpec(default="Try again in {seconds} seconds.", placeholders=frozenset({"seconds"}))
PLAIN = PromptSpec(default="That step is over.")


@pytest.mark.parametrize(
    ("template", "spec", "problem"),
    [
        pytest.param("Wait {secs} seconds.", SECONDS, "unknown placeholder {secs}", id="unknown"),
        pytest.param("Hello {name}.", PLAIN, "allowed: none", id="unknown-when-none-allowed"),
        pytest.param("Try again soon.", SECONDS, "missing placeholder {seconds}", id="missing"),
        pytest.param(
            "Try again in {{seconds}}.", SECONDS, "missing placeholder", id="escaped-is-not-a-field"
        ),
        pytest.param("Wait {} seconds.", SECONDS, "name", id="positional-empty"),
        pytest.param("Wait {0} seconds.", SECONDS, "name", id="positional-index"),
        pytest.param("Wait {seconds.real} seconds.", SECONDS, "name", id="attribute-access"),
        pytest.param("Wait {seconds[0]} seconds.", SECONDS, "name", id="item-access"),
        pytest.param(
            "Wait {seconds seconds.", SECONDS, "not a valid template", id="unclosed-brace"
        ),
        pytest.param("Wait seconds} seconds.", SECONDS, "not a valid template", id="stray-closing"),
        pytest.param("Wait {seconds}} seconds.", SECONDS, "not a valid template", id="unbalanced"),
    ],
)
def test_placeholder_problem_reports(template: str, spec: PromptSpec, problem: str) -> None:
    reported = placeholder_problem(template, spec)

    assert reported is not None
    assert problem in reported


@pytest.mark.parametrize(
    ("template", "spec"),
    [
        pytest.param("Use {{braces}} freely.", PLAIN, id="literal-braces"),
        pytest.param("{{seconds}}: {seconds}", SECONDS, id="literal-and-field"),
        pytest.param("{seconds} s, again {seconds} s", SECONDS, id="repeated-field"),
        pytest.param("फिर से {seconds} सेकंड में कोशिश करें।", SECONDS, id="translated"),
    ],
)
def test_placeholder_problem_accepts(template: str, spec: PromptSpec) -> None:
    assert placeholder_problem(template, spec) is None
    assert template.format_map({"seconds": 45})


@pytest.mark.parametrize(
    "template",
    [
        pytest.param("Wait {seconds!z} seconds.", id="unknown-conversion"),
        pytest.param("Wait {seconds:{width}} seconds.", id="field-inside-format-spec"),
        pytest.param("Wait {seconds:d} seconds.", id="numeric-format-spec"),
    ],
)
def test_placeholder_problem_rejects_templates_that_cannot_render(template: str) -> None:
    # The catalogue promises an accepted override "can never fail to render at run time";
    # values reach the template as text (bot/render.py formats each one to a str first).
    with pytest.raises((ValueError, KeyError)):
        template.format_map({"seconds": "45"})

    assert placeholder_problem(template, SECONDS) is not None


FIELDS = st.builds(
    "{{{}{}}}".format,
    st.sampled_from(["seconds", "seconds", "secs", "", "0", "seconds.real", "seconds[0]"]),
    st.sampled_from(["", "", "!r", "!s", "!z", ":d", ":>5", ":{w}", ":%H"]),
)
TEMPLATES = st.lists(st.one_of(FIELDS, st.sampled_from(["Wait ", " s.", "{{", "}}"])), max_size=5)


@settings(max_examples=200)
@given(TEMPLATES.map("".join))
def test_every_template_the_check_accepts_renders(template: str) -> None:
    # Rendering inserts each value as text (bot/render.py), so that is what is tried here.
    if placeholder_problem(template, SECONDS) is None:
        assert "45" in template.format_map({"seconds": "45"})
