"""Service settings: `config/voicebot.yaml`, overridden by environment variables.

Precedence (highest first): constructor arguments, `VOICEBOT_*` environment variables (nested
with `__`, e.g. `VOICEBOT_SPEECH__MODEL_DIR`), the YAML file (`VOICEBOT_CONFIG` names another
one), then the defaults below. Every setting and its default is listed in README.md.

Secrets (`SecretStr` fields: `sip.password`) never reach a child process's environment:
`drop_secrets_from_environment` takes their `VOICEBOT_*` variables out of this process's
environment once read, before workers start, and the workers get their configuration through
the pipe multiprocessing starts them with (voicebot/server/worker.py).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from voicebot.campaign.config import CampaignSettings
from voicebot.errors import ConfigError
from voicebot.flow.backend import HttpLimits
from voicebot.flow.completions import Endpoint
from voicebot.flow.source import Limits
from voicebot.policy import numbers

if TYPE_CHECKING:
    from voicebot.dialog.assistant import LlmOptions

DEFAULT_CONFIG = Path("config/voicebot.yaml")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class SpeechSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_dir: Path | None = Field(
        None, description="CTranslate2 Whisper directory; empty = bundled tiny.en"
    )
    compute_type: str = Field("int8", description="CTranslate2 compute type")
    cpu_threads: int = Field(2, ge=1, description="threads for the recogniser")
    tts_voice: str = Field("en-us", description="espeak-ng voice when a flow sets none")
    tts_rate: int = Field(165, description="words per minute when a flow sets none")
    turn_model: bool = Field(
        False, description="end free-text turns by the smart-turn model (false: silence only)"
    )
    turn_threshold: float = Field(
        0.9, ge=0, le=1, description="turn model score that ends a free-text turn after 0.2 s"
    )


class HttpSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connect_timeout: float = Field(
        2.0, gt=0, description="seconds to connect to a flow's backend (capped by the step's)"
    )
    max_reply_bytes: int = Field(1_000_000, ge=1, description="longest backend reply accepted")
    # the operators' console (`voicebot serve`): HTTP API, dashboard, /metrics
    host: str = Field("127.0.0.1", description="address the console listens on")
    port: int = Field(8080, ge=0, le=65535, description="console port; 0: no console")

    def limits(self) -> HttpLimits:
        return HttpLimits(self.connect_timeout, self.max_reply_bytes)


class SipSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field("127.0.0.1", description="address to bind (0.0.0.0: all)")
    port: int = Field(5060, ge=0, le=65535, description="SIP port (UDP and TCP); worker i: +i")
    workers: int = Field(1, ge=1, description="worker processes, 4 calls each")
    public_host: str = Field("", description="address to advertise instead of host (NAT)")
    rtp_port: int = Field(4000, description="first RTP port")
    allow_from: list[str] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1"],
        description="addresses/CIDRs allowed to call in ([] = anyone)",
    )
    audio_rate: int = Field(16000, description="rate calls are processed at (8000 or 16000)")
    registrar: str = Field("", description="register with this PBX, e.g. sip:pbx.example.com")
    username: str = Field("", description="digest user for the registrar")
    password: SecretStr = Field(SecretStr(""), description="digest password for the registrar")
    realm: str = Field(
        "", description="digest realm the credentials answer ('' = the registrar's host)"
    )
    transaction_timeout: float = Field(
        4.0,
        ge=1,
        le=32,
        description="SIP transaction timeout: a call not ACKed by then is ended and frees its "
        "slot; also the wait for a first answer to our INVITE, BYE or REGISTER",
    )
    max_call_seconds: float = Field(3600.0, gt=0, description="longest call before hang-up")
    drain_seconds: float = Field(30.0, ge=0, description="SIGTERM: time calls get to finish")
    watchdog_seconds: float = Field(
        10.0, gt=0, description="a call neither playing nor listening this long: error route"
    )


class TransferSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allow: list[str] = Field(
        default_factory=list,
        description="URI patterns (sip:*@pbx.example.com) a target built from call data must "
        "match; [] = only targets written in the flows",
    )
    context_url: str = Field(
        "",
        description="the agent's context document, sent as X-Voicebot-Context with {call_id} "
        "filled in, e.g. http://127.0.0.1:8080/api/v1/calls/{call_id}/context ('' = none)",
    )


class OutboundSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allow: list[str] = Field(
        default_factory=list, description="E.164 prefixes (+1) or regions (US) to dial; [] = any"
    )
    refuse: list[str] = Field(
        default_factory=lambda: list(numbers.DEFAULT_REFUSED),
        description="number types never dialed (phonenumbers: premium_rate, uan, ...)",
    )

    @field_validator("allow")
    @classmethod
    def _allow(cls, value: list[str]) -> list[str]:
        return numbers.check_allow(value)

    @field_validator("refuse")
    @classmethod
    def _refuse(cls, value: list[str]) -> list[str]:
        return numbers.check_types(value)

    def policy(self) -> numbers.NumberPolicy:
        return numbers.NumberPolicy(tuple(self.allow), tuple(self.refuse))


class LimitSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    flow_bytes: int = Field(1_000_000, ge=1, description="largest flow file read")
    yaml_aliases: int = Field(100, ge=0, description="aliases (*name) in one flow file")
    yaml_depth: int = Field(50, ge=1, description="nesting of lists and maps in a flow file")
    yaml_values: int = Field(100_000, ge=1, description="values a flow expands to (aliases)")
    csv_bytes: int = Field(50_000_000, ge=1, description="largest contacts CSV imported")

    def flow(self) -> Limits:
        return Limits(self.flow_bytes, self.yaml_aliases, self.yaml_depth, self.yaml_values)


class LlmSettings(BaseModel):
    """The language model of flows' `llm` steps: any OpenAI-compatible endpoint."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field("", description="e.g. http://127.0.0.1:8000/v1; empty: none")
    model: str = Field("", description="the model's name at that endpoint")
    api_key_env: str = Field("", description="environment variable holding the API key")
    timeout: float = Field(10.0, gt=0, description="seconds for a whole reply")
    first_sentence_budget: float = Field(
        0.8, gt=0, description="seconds before the filler prompt plays"
    )
    filler: dict[str, str] = Field(
        default_factory=lambda: {"en": "One moment.", "zh-CN": "请稍等。"},
        description="the filler prompt, per language",
    )

    def endpoint(self) -> Endpoint:
        return Endpoint(self.base_url, self.model, self.api_key_env, self.timeout)

    def options(self) -> LlmOptions:
        from voicebot.dialog.assistant import LlmOptions  # the dialog core: only when needed

        return LlmOptions(self.first_sentence_budget, dict(self.filler))


class DatabaseSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        "sqlite:///var/voicebot.db",
        description="campaigns, contacts, attempts, do-not-call, call records: sqlite:///FILE "
        "(relative to the working directory) or postgresql://USER:PASSWORD@HOST/NAME",
    )


class RetentionSettings(BaseModel):
    """How long recordings and transcripts are kept (voicebot/call/retention.py)."""

    model_config = ConfigDict(extra="forbid")

    days: int = Field(
        0, ge=0, description="delete recordings and call transcripts after this many days; 0 = keep"
    )
    every_minutes: float = Field(60.0, gt=0, description="`serve` purges at start and this often")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="VOICEBOT_", env_nested_delimiter="__", extra="forbid"
    )

    flows_dir: Path = Field(Path("dialog_flows"), description="where flow files live")
    default_flow: str = Field("support_line.yaml", description="flow run when none is given")
    audio_assets_dir: Path = Field(Path("audio_assets"), description="recorded prompts")
    data_dir: Path = Field(Path("var"), description="recordings, caches")
    database: DatabaseSettings = Field(
        default_factory=DatabaseSettings, description="where state lives (one URL)"
    )
    call_records: Path | None = Field(
        None, description="a separate SQLite file of call records (default: database.url)"
    )
    expose_env: list[str] = Field(
        default_factory=list, description="environment variables flows may read as env.NAME"
    )
    flow_env: dict[str, str] = Field(
        default_factory=dict, description="fixed env.NAME values for flows"
    )
    currency: str = Field("USD", description="currency of the money filter")
    locale: str = Field("en_US", description="locale for money and date formatting")
    log_level: str = Field(
        "INFO", description="DEBUG, INFO, WARNING or ERROR: `serve` and `campaign run`"
    )
    speech: SpeechSettings = SpeechSettings()
    http: HttpSettings = Field(
        default_factory=HttpSettings, description="flows' HTTP requests (timeout: the step's)"
    )
    sip: SipSettings = Field(default_factory=SipSettings, description="SIP endpoint and workers")
    campaign: CampaignSettings = Field(
        default_factory=CampaignSettings,
        description="outbound campaigns: database, region, pacing, retries",
    )
    transfers: TransferSettings = Field(
        default_factory=TransferSettings, description="where a transfer may go"
    )
    outbound: OutboundSettings = Field(
        default_factory=OutboundSettings, description="which numbers may be dialed"
    )
    limits: LimitSettings = Field(
        default_factory=LimitSettings, description="sizes of flow and contacts files"
    )
    llm: LlmSettings = Field(
        default_factory=LlmSettings, description="the model of `llm` steps (OpenAI-compatible)"
    )
    retention: RetentionSettings = Field(
        default_factory=RetentionSettings, description="how long recordings and words are kept"
    )

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"{value!r}: use one of {', '.join(LOG_LEVELS)}")
        return level

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = Path(os.environ.get("VOICEBOT_CONFIG", str(DEFAULT_CONFIG)))
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if path.is_file():
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
        return tuple(sources)

    def records_url(self) -> str:
        """Where call records go: `call_records` when set (older set-ups), else the database."""
        return str(self.call_records) if self.call_records else self.database.url

    def flow_environment(self) -> dict[str, str]:
        """The `env` names a flow sees: exposed environment variables plus fixed values."""
        out = {name: os.environ[name] for name in self.expose_env if name in os.environ}
        out.update(self.flow_env)
        return out


def _secret_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> Iterator[str]:
    for name, f in model.model_fields.items():
        if f.annotation is SecretStr:
            yield "__".join((*prefix, name))
        elif isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel):
            yield from _secret_paths(f.annotation, (*prefix, name))


def secret_variables() -> list[str]:
    """The environment variables that set a secret: `VOICEBOT_SIP__PASSWORD`."""
    return [f"VOICEBOT_{path}".upper() for path in _secret_paths(Settings)]


def drop_secrets_from_environment() -> list[str]:
    """Take the secret settings' variables (any case) out of `os.environ`, so that no process
    started from now on inherits them; the names removed. Call once the settings are read."""
    secret = set(secret_variables())
    removed = [name for name in os.environ if name.upper() in secret]
    for name in removed:
        del os.environ[name]
    if removed:
        logging.getLogger(__name__).debug("secrets kept out of child processes: %s", removed)
    return removed


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        where = os.environ.get("VOICEBOT_CONFIG", str(DEFAULT_CONFIG))
        lines = [f"{where}: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("\n".join(lines)) from None
