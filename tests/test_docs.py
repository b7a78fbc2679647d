"""The README and docs say what the code does."""

from __future__ import annotations

import subprocess
from pathlib import Path

from voicebot.campaign.config import CampaignSettings
from voicebot.settings import (
    DatabaseSettings,
    HttpSettings,
    LimitSettings,
    LlmSettings,
    OutboundSettings,
    RetentionSettings,
    Settings,
    SipSettings,
    SpeechSettings,
    TransferSettings,
)

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_every_setting_is_documented_with_its_default():
    nested = {
        "speech": SpeechSettings,
        "campaign": CampaignSettings,
        "sip": SipSettings,
        "http": HttpSettings,
        "transfers": TransferSettings,
        "outbound": OutboundSettings,
        "limits": LimitSettings,
        "llm": LlmSettings,
        "database": DatabaseSettings,
        "retention": RetentionSettings,
    }
    for name in Settings.model_fields:
        if name not in nested:
            assert f"| `{name}` |" in README, name
    for prefix, model in nested.items():
        for name in model.model_fields:
            assert f"`{prefix}.{name}`" in README, f"{prefix}.{name}"
    config = (ROOT / "config" / "voicebot.yaml").read_text()
    for model in (Settings, *nested.values()):
        for name in model.model_fields:
            assert f"{name}:" in config, name


def test_shipped_config_is_valid_and_equals_the_defaults(monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("VOICEBOT_CONFIG", raising=False)
    monkeypatch.delenv("VOICEBOT_HTTP__PORT", raising=False)  # tests/conftest.py: no console
    assert Settings() == Settings.model_construct(
        **{k: f.get_default(call_default_factory=True) for k, f in Settings.model_fields.items()}
    )


def test_environment_overrides_the_file(monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("VOICEBOT_CURRENCY", "EUR")
    monkeypatch.setenv("VOICEBOT_SPEECH__CPU_THREADS", "1")
    settings = Settings()
    assert settings.currency == "EUR" and settings.speech.cpu_threads == 1


def test_readme_names_the_two_commands():
    assert "make demo" in README and "make test" in README


def test_ci_runs_lint_then_the_tests():
    commands = [
        line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.startswith("make")
    ]
    assert commands == ["make lint", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    lint = makefile.split("\nlint:")[1].split("\n\n")[0]
    assert "ruff check ." in lint and "ruff format --check ." in lint and "mypy voicebot" in lint


def test_no_path_of_a_particular_machine_in_the_tree():
    """A fresh clone needs nothing outside itself: no absolute path of our machines and no
    folder beside the repository (FSDD is in tests/data, the flow contract in docs/). What is
    checked is what git would commit: tracked files and new ones it does not ignore (caches a
    test run leaves, such as hypothesis' database, hold absolute paths and are ignored)."""
    machine, beside = "/" + "work/", "../" + "shared"
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    checked = 0
    for name in filter(None, listed):
        path = ROOT / name
        if path.is_file() and not name.endswith(".wav"):
            text = path.read_text(errors="replace")
            assert machine not in text and beside not in text, name
            checked += 1
    assert checked > 100
