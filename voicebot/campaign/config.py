"""Campaign settings at the edge (pydantic): service defaults, `campaign create` options, and
the policy each campaign stores in its database row.

`CampaignSettings` is what the service settings hold under `campaign:` (config/voicebot.yaml,
`VOICEBOT_CAMPAIGN__CPS=2`, ...); `campaign create` overrides fields from its options and
stores the result as JSON in the campaign's row, so a campaign keeps the rules it was created
with. `to_policy()` turns it into the frozen `pacing.Policy` the cores use.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from voicebot.campaign.pacing import DEFAULT_RETRIES, Outcome, Policy, RetryRule, Window

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
RETRYABLE = ("busy", "no_answer", "failed", "machine", "unknown")


class RetrySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    retry: bool = Field(True, description="dial again after this outcome")
    backoff_minutes: float = Field(30.0, ge=0, description="wait before the next attempt")
    factor: float = Field(1.0, ge=1.0, description="backoff multiplier per earlier attempt")

    def rule(self) -> RetryRule:
        return RetryRule(self.retry, timedelta(minutes=self.backoff_minutes), self.factor)


def _default_retries() -> dict[str, RetrySettings]:
    return {
        outcome.value: RetrySettings(
            retry=rule.retry,
            backoff_minutes=rule.backoff.total_seconds() / 60,
            factor=rule.factor,
        )
        for outcome, rule in DEFAULT_RETRIES.items()
    }


class CampaignSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    database: Path | None = Field(
        None, description="a separate SQLite file of campaigns (default: database.url)"
    )
    region: str = Field("US", description="region of numbers written without +")
    dnc_file: Path | None = Field(None, description="do-not-call numbers, read at create")
    window: str = Field("08:00-21:00", description="calling window, contact's local time")
    weekdays: dict[str, str | None] = Field(
        default_factory=dict, description="per-day windows, e.g. {sat: 10:00-14:00, sun: null}"
    )
    max_concurrent: int = Field(4, ge=1, description="calls in flight at most")
    cps: float = Field(1.0, gt=0, description="new calls per second at most")
    burst: int = Field(1, ge=1, description="calls that may start at once (token bucket size)")
    max_attempts: int = Field(3, ge=1, description="attempts per contact at most")
    daily_cap: int = Field(2, ge=1, description="attempts per number per local day")
    retries: dict[str, RetrySettings] = Field(
        default_factory=_default_retries, description="by outcome: busy, no_answer, ..."
    )
    congestion_pause_seconds: float = Field(5.0, gt=0, description="hold after a 503")
    trunk: str = Field(
        "sip:{number}@127.0.0.1:5080",
        description="where calls go: a SIP URI template; {number} is E.164, {digits} without +",
    )
    ring_seconds: float = Field(30.0, gt=0, description="give up ringing after (no answer)")
    lease_seconds: float = Field(
        30.0, ge=1, description="a dead dialer's calls are taken over this long after it stopped"
    )
    lost_call_hold_seconds: float = Field(
        30.0,
        ge=0,
        description="a call lost with its worker or dialer keeps its slot this long after it is"
        " closed as unknown (the far end may hold it until it times the silence out)",
    )

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        return str(Window.parse(value))

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: dict[str, str | None]) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for day, window in value.items():
            key = day.strip().lower()[:3]
            if key not in WEEKDAYS:
                raise ValueError(f"'{day}' is not a weekday (mon ... sun)")
            out[key] = None if window in (None, "", "off", "closed") else str(Window.parse(window))
        return out

    @field_validator("retries")
    @classmethod
    def _retries(cls, value: dict[str, RetrySettings]) -> dict[str, RetrySettings]:
        for name in value:
            if name not in RETRYABLE:
                raise ValueError(f"'{name}' is not a retryable outcome ({', '.join(RETRYABLE)})")
        return {**_default_retries(), **value}

    def to_policy(self) -> Policy:
        weekdays = {
            WEEKDAYS.index(day): None if w is None else Window.parse(w)
            for day, w in self.weekdays.items()
        }
        return Policy(
            window=Window.parse(self.window),
            weekdays=weekdays,
            max_concurrent=self.max_concurrent,
            cps=self.cps,
            burst=self.burst,
            max_attempts=self.max_attempts,
            daily_cap=self.daily_cap,
            retries={Outcome(k): v.rule() for k, v in self.retries.items()},
            congestion_pause=timedelta(seconds=self.congestion_pause_seconds),
        )
