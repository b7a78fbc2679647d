"""The README and docs say what the code does."""

from __future__ import annotations

from pathlib import Path

from voicebot.campaign.config import CampaignSettings
from voicebot.settings import Settings, SipSettings, SpeechSettings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_every_setting_is_documented_with_its_default():
    nested = {"speech": SpeechSettings, "campaign": CampaignSettings, "sip": SipSettings}
    for name in Settings.model_fields:
        if name not in nested:
            assert f"| `{name}` |" in README, name
    for prefix, model in nested.items():
        for name in model.model_fields:
            assert f"`{prefix}.{name}`" in README, f"{prefix}.{name}"
    config = (ROOT / "config" / "voicebot.yaml").read_text()
    for name in [
        *Settings.model_fields,
        *SpeechSettings.model_fields,
        *CampaignSettings.model_fields,
        *SipSettings.model_fields,
    ]:
        assert f"{name}:" in config, name


def test_shipped_config_is_valid_and_equals_the_defaults(monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("VOICEBOT_CONFIG", raising=False)
    assert Settings() == Settings.model_construct(
        **{k: f.get_default(call_default_factory=True) for k, f in Settings.model_fields.items()}
    )


def test_environment_overrides_the_file(monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("VOICEBOT_CURRENCY", "EUR")
    monkeypatch.setenv("VOICEBOT_SPEECH__CPU_THREADS", "1")
    settings = Settings()
    assert settings.currency == "EUR" and settings.speech.cpu_threads == 1


def test_docs_carry_the_designers_contract_unchanged():
    shared = ROOT.parent / "shared" / "FLOW_FORMAT.md"
    assert (ROOT / "docs" / "flow-format.md").read_text() == shared.read_text()


def test_readme_names_the_two_commands():
    assert "make demo" in README and "make test" in README
    assert "make test" in (ROOT / ".ci" / "run").read_text()
