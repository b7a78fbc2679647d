"""Languages in flows (docs/flow-format.md "Languages"): the schema, `flow check`, and the
contract's example run in the text simulator, `flow test` and `flow chat`, in Mandarin and English.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from voicebot.cli import main
from voicebot.dialog.actions import Listen, Say
from voicebot.errors import FlowValidationError
from voicebot.flow.flowtests import run_files
from voicebot.flow.lint import lint
from voicebot.flow.loader import load_flow
from voicebot.flow.schema import Voice, for_language
from voicebot.flow.simulator import TextCall

ROOT = Path(__file__).resolve().parents[2]
CLOCK = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)

GALAXY_TEST = """\
flow: galaxy_telecom.yaml
tests:
  - name: 普通话 by speech, the number by keys
    turns:
      - bot: "欢迎致电星河通信"
      - bot: "普通话请按1"
      - caller: "普通话"
      - bot: "十一位手机号码"
      - dtmf: "13800138000"
      - bot: "您的号码是幺三八零零幺三八零零零。再见"
      - expect: {hangup: true, language: zh-CN, slots: {phone: "13800138000"}}
  - name: 中文 and the number said the phone-number way
    turns:
      - caller: "我要中文"
      - bot: "手机号码"
      - caller: "幺三八 零零幺三 八零零零"
      - bot: "幺三八零零幺三八零零零"
      - expect: {slots: {phone: "13800138000"}}
  - name: nine switches the rest of the call to English
    turns:
      - dtmf: "9"
      - bot: "eleven digit phone number"
      - caller: "one three eight zero zero one three eight zero zero zero"
      - bot: "Your number is 1 3 8 0 0 1 3 8 0 0 0. Goodbye."
      - expect: {hangup: true, language: en}
"""


def languages_example() -> str:
    """The one YAML example of docs/flow-format.md's "Languages" section."""
    text = (ROOT / "docs" / "flow-format.md").read_text()
    section = re.split(r"^## ", text, flags=re.M)
    [part] = [p for p in section if p.startswith("Languages\n")]
    [block] = re.findall(r"```yaml\n(.*?)```", part, re.S)
    return block


@pytest.fixture
def galaxy(tmp_path: Path) -> Path:
    """The contract's "Languages" example, exactly as written."""
    path = tmp_path / "galaxy_telecom.yaml"
    path.write_text(languages_example())
    return path


def flow_file(tmp_path: Path, body: str, name: str = "flow.yaml") -> Path:
    path = tmp_path / name
    path.write_text("version: 1\nname: t\n" + textwrap.dedent(body))
    return path


def bot_lines(call: TextCall) -> list[str]:
    return [line.text for line in call.lines if line.who == "bot"]


# -- the contract's example -------------------------------------------------------------------
def test_the_languages_example_checks_with_one_located_warning(galaxy, capsys):
    assert main(["flow", "check", str(galaxy)]) == 0
    out = capsys.readouterr()
    # the language menu has no English prompt: before the switch, every call is in zh-CN
    assert f"{galaxy}:13:15: warning: steps.language.menu.prompt: no en variant" in out.err
    assert "missing-language" in [p.code for p in lint(load_flow(galaxy))]


def test_the_languages_example_in_mandarin(galaxy):
    loaded = load_flow(galaxy)
    assert loaded.flow.language == "zh-CN" and loaded.flow.languages == ["zh-CN", "en"]
    call = TextCall(loaded, clock=CLOCK)
    call.start()
    call.say("普通话")
    assert call.step == "bill_number"
    assert isinstance(call.listening, Listen)
    assert call.listening.expect.language == "zh-CN" and call.listening.expect.kind == "digits"
    call.press("13800138000")
    assert bot_lines(call) == [
        "您好，欢迎致电星河通信。",
        "普通话请按1。For English, press 9.",
        "请说出或按键输入您的十一位手机号码。",
        "好的，您的号码是幺三八零零幺三八零零零。再见。",
    ]
    assert call.engine.slots == {"phone": "13800138000"} and call.hung_up


def test_the_languages_example_switched_to_english(galaxy):
    call = TextCall(load_flow(galaxy), clock=CLOCK)
    call.start()
    call.press("9")
    assert call.engine.language == "en" and call.engine.call["language"] == "en"
    assert call.listening is not None and call.listening.expect.language == "en"
    call.say("one three eight zero zero one three eight zero zero zero")
    assert bot_lines(call)[2:] == [
        "Please say or key in your eleven digit phone number.",
        "Thank you. Your number is 1 3 8 0 0 1 3 8 0 0 0. Goodbye.",
    ]


def test_prompts_carry_their_language_and_voice(galaxy):
    from voicebot.dialog.engine import DialogEngine
    from voicebot.dialog.events import CallStarted, Dtmf

    engine = DialogEngine(load_flow(galaxy))
    out = engine.handle(CallStarted("c1", "+86", "+86"), CLOCK)
    says = [a for a in out if isinstance(a, Say)]
    # the flow's `{name: cmn}` is spoken with the pinyin voice: Debian's cmn misreads characters
    assert {(s.language, s.voice, s.rate) for s in says} == {("zh-CN", "cmn-latn-pinyin", 170)}
    out = engine.handle(Dtmf("9"), CLOCK)
    says = [a for a in out if isinstance(a, Say)]
    assert [(s.language, s.voice, s.rate) for s in says] == [("en", "en-us", 165)]


def test_a_chinese_flow_test_file_passes(galaxy, capsys):
    test_file = galaxy.parent / "galaxy_telecom.test.yaml"
    test_file.write_text(GALAXY_TEST)
    report = run_files([test_file])
    assert [(r.name, r.failure) for r in report.results] == [
        ("普通话 by speech, the number by keys", ""),
        ("中文 and the number said the phone-number way", ""),
        ("nine switches the rest of the call to English", ""),
    ]
    assert main(["flow", "test", str(test_file)]) == 0
    assert "普通话 by speech, the number by keys" in capsys.readouterr().out


def test_a_chinese_flow_test_that_fails_says_what_the_bot_said(galaxy):
    test_file = galaxy.parent / "galaxy_telecom.test.yaml"
    test_file.write_text(
        "flow: galaxy_telecom.yaml\ntests:\n  - name: 错\n    turns:\n"
        "      - caller: 普通话\n      - bot: 再见\n      - expect: {language: en}\n"
    )
    [result] = run_files([test_file]).results
    assert "expected the bot to say '再见'" in result.failure
    assert "十一位手机号码" in result.failure


def test_flow_chat_with_chinese_text(galaxy):
    env = {**os.environ, "PYTHONUTF8": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "voicebot", "flow", "chat", str(galaxy)],
        input="普通话\n#13800138000\n",
        capture_output=True,
        encoding="utf-8",
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "caller 普通话" in proc.stdout
    assert "bot    [done] 好的，您的号码是幺三八零零幺三八零零零。再见。" in proc.stdout
    assert '"phone": "13800138000"' in proc.stdout


# -- the schema -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("language: english", "'english' is not a BCP 47 language tag"),
        ("language: zh_CN", "'zh_CN' is not a BCP 47 language tag"),
        ("languages: [en, zh-CN-beijing-x]", "'zh-CN-beijing-x' is not a BCP 47 language tag"),
        ("languages: [en, zh-CN-]", "'zh-CN-' is not a BCP 47 language tag"),
        ("language: zh-CN\nlanguages: [en]", "language 'zh-CN' is not among languages"),
        ("languages: []", "at least 1 item"),
        ("voice: {zh-CN: {name: cmn}, mandarin: {name: cmn}}", "'mandarin' is not a BCP 47"),
    ],
)
def test_malformed_language_settings_are_located_errors(tmp_path, header, message):
    path = flow_file(tmp_path, header + "\nstart: a\nsteps:\n  a: {hangup: {}}\n")
    with pytest.raises(FlowValidationError) as info:
        load_flow(path)
    assert message in str(info.value)
    assert f"{path}:" in str(info.value)


@pytest.mark.parametrize(
    "tag", ["en", "en-US", "zh-CN", "zh-Hans-CN", "zh-yue", "cmn-Latn-pinyin", "es-419", "ZH-cn"]
)
def test_well_formed_language_tags_load(tmp_path, tag):
    path = flow_file(tmp_path, f"language: {tag}\nstart: a\nsteps:\n  a: {{hangup: {{}}}}\n")
    assert load_flow(path).flow.language == tag


@pytest.mark.parametrize(
    ("header", "voice"),
    [
        ("", None),
        ("voice: {name: en-gb, rate: 150}", Voice(name="en-gb", rate=150)),
        ("voice: {en: {name: en-us}, zh-CN: {name: cmn, rate: 170}}", Voice(name="cmn", rate=170)),
        ("voice: {en: {name: en-us}, zh: {name: cmn}}", Voice(name="cmn")),
        ("voice: {en: {name: en-us}}", Voice(name="en-us")),  # no variant: the default's
    ],
)
def test_voice_for_a_language(tmp_path, header, voice):
    path = flow_file(
        tmp_path,
        f"language: en\nlanguages: [en, zh-CN]\n{header}\nstart: a\nsteps:\n  a: {{hangup: {{}}}}\n",
    )
    assert load_flow(path).flow.voice_for("zh-CN") == voice


@pytest.mark.parametrize(
    ("variants", "language", "chosen"),
    [
        ({"en": "E", "zh-CN": "Z"}, "zh-CN", "Z"),
        ({"en": "E", "zh-CN": "Z"}, "zh-cn", "Z"),  # tags are case-insensitive
        ({"en": "E", "zh-CN": "Z"}, "zh", "Z"),  # the same primary language
        ({"en": "E", "zh-CN": "Z"}, "cmn", "Z"),
        ({"en-US": "E", "zh-CN": "Z"}, "en", "E"),
        ({"en": "E", "zh-CN": "Z"}, "fr", "E"),  # the flow's default language
        ({"zh-CN": "Z", "ja": "J"}, "fr", "Z"),  # else the first
        ({}, "en", None),
    ],
)
def test_for_language(variants, language, chosen):
    assert for_language(variants, language, "en") == chosen


# -- flow check ---------------------------------------------------------------------------------
LINTED = """\
language: zh-CN
languages: [zh-CN, en]
voice: {zh-CN: {name: cmn}}
prompts:
  hi: {zh-CN: "您好", en: "Hello"}
  bye: {zh-CN: "再见"}
start: a
steps:
  a: {say: hi, next: b}
  b: {say: {zh-CN: "请稍等", fr: "Un instant"}, next: c}
  c: {set: {call.language: ja}, next: d}
  d: {set: {call.language: en}, next: e}
  e: {say: bye, next: f}
  f: {say: {en: ["first", "second"], zh-CN: ["第一次", "第二次"]}, next: end}
  end: {hangup: {}}
"""


def test_flow_check_reports_missing_and_unknown_languages_located(tmp_path, capsys):
    path = flow_file(tmp_path, LINTED)
    found = sorted((p.location.line, p.code, p.severity, p.path) for p in lint(load_flow(path)))
    assert found == [
        (5, "missing-language", "warning", "voice"),
        (8, "missing-language", "warning", "prompts.bye"),
        (12, "missing-language", "warning", "steps.b.say"),
        (12, "unknown-language", "error", "steps.b.say.fr"),
        (13, "unknown-language", "error", "steps.c.set.call.language"),
    ]
    assert main(["flow", "check", str(path)]) == 1
    err = capsys.readouterr().err
    assert (
        f"{path}:8:8: warning: prompts.bye: no en variant: callers in en hear the zh-CN one" in err
    )
    assert f"{path}:13:28: steps.c.set.call.language: language 'ja' is not declared" in err
    assert "the flow declares zh-CN, en" in err


def test_a_missing_default_language_names_the_variant_heard_instead(tmp_path):
    path = flow_file(
        tmp_path,
        "language: zh-CN\nlanguages: [zh-CN, en-US, en-GB]\nstart: a\nsteps:\n"
        '  a: {say: {en-US: "Hello"}, next: b}\n  b: {hangup: {}}\n',
    )
    messages = [p.message for p in lint(load_flow(path))]
    assert messages == [
        "no zh-CN variant: callers in zh-CN hear the en-US one",
        "no en-GB variant: callers in en-GB hear the en-US one",
    ]


def test_a_flow_in_one_language_keeps_plain_prompts_without_warnings(tmp_path):
    path = flow_file(
        tmp_path,
        'language: zh-CN\nvoice: {name: cmn}\nstart: a\nsteps:\n  a: {say: "您好", next: b}\n'
        "  b: {hangup: {}}\n",
    )
    assert lint(load_flow(path)) == []


def test_a_language_voicebot_does_not_speak_is_a_warning(tmp_path):
    path = flow_file(
        tmp_path,
        "language: fr\nlanguages: [en, fr]\nstart: a\nsteps:\n"
        '  a: {say: {en: "Hello", fr: "Bonjour"}, next: b}\n  b: {hangup: {}}\n',
    )
    [problem] = lint(load_flow(path))
    assert (problem.code, problem.path, problem.location.line) == (
        "unspoken-language",
        "languages[1]",
        4,
    )
    assert "English and Mandarin, not 'fr'" in problem.message


def test_each_voice_of_a_voice_map_is_checked_against_espeak(tmp_path):
    path = flow_file(
        tmp_path,
        "language: zh-CN\nlanguages: [zh-CN, en]\n"
        "voice: {zh-CN: {name: cmn}, en: {name: en-zz}}\n"
        "start: a\nsteps:\n  a: {hangup: {}}\n",
    )
    problems = lint(load_flow(path), voices=["cmn", "cmn-latn-pinyin", "en-us", "en-gb"])
    assert [(p.code, p.path, p.location.line, p.severity) for p in problems] == [
        ("unknown-voice", "voice.en.name", 5, "error")
    ]


@pytest.mark.parametrize(
    ("words", "language"),
    [
        ("普通话", "zh-CN"),
        ("中文", "zh-CN"),
        ("嗯，我要中文", "zh-CN"),
        ("English", "en"),  # a Latin phrase, heard by the Mandarin matcher
        ("english please", "en"),
    ],
)
def test_the_language_menu_by_speech(galaxy, words, language):
    call = TextCall(load_flow(galaxy), clock=CLOCK)
    call.start()
    call.say(words)
    assert (call.step, call.engine.language) == ("bill_number", language)
