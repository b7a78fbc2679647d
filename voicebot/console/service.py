"""The console's service layer: what the API does, over the stores' public methods.

The HTTP handlers (`api.py`) only parse, authorise and call these; every rule lives here or in
the stores (`Ledger`, `DoNotCall`, `CallStore`), the flow loader and lint, and the contacts
import: a flow uploaded here is checked exactly as `voicebot flow check` checks it, a campaign
created here gets the same line-numbered report as `voicebot campaign create`.

Errors are `VoicebotError`s (a `CampaignError` for a wrong state or name, `FlowError` with the
located problems); the API maps them to 4xx answers with the message.
"""

from __future__ import annotations

import re
import tempfile
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from voicebot.call.context import agent_context
from voicebot.call.records import CallQuery, CallRecord
from voicebot.campaign.config import CampaignSettings
from voicebot.campaign.ledger import Campaign
from voicebot.campaign.results import (
    Summary,
    export_csv,
    export_json,
    results,
    summaries,
    summary,
)
from voicebot.console.database import open_stores
from voicebot.errors import CampaignError, FlowError, Location, Problem, VoicebotError
from voicebot.flow.source import Limits
from voicebot.policy.numbers import NumberPolicy

FLOW_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}\.ya?ml$")
CAMPAIGN_OPTIONS = ("window", "max_concurrent", "cps", "max_attempts", "daily_cap", "region")


@dataclass(frozen=True)
class ConsoleConfig:
    flows_dir: Path
    campaign_db: str | Path  # a SQLite file or a database URL
    call_records: str | Path
    data_dir: Path
    audio_dir: Path | None = None
    limits: Limits = Limits()
    csv_bytes: int = 50_000_000
    numbers: NumberPolicy = NumberPolicy()
    campaign: CampaignSettings = field(default_factory=CampaignSettings)
    retention_days: int = 0  # settings retention.days (0: recordings and words kept)


@dataclass(frozen=True)
class FlowCheck:
    """`flow check` of one file: located errors (it does not load, or lint errors) and warnings."""

    name: str
    errors: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class CampaignCreated:
    campaign: str
    accepted: int
    rejected: int
    rows: int
    dnc: int
    report: tuple[str, ...]  # "file.csv:LINE: reason" for every rejected row


@dataclass(frozen=True)
class CallPage:
    total: int
    offset: int
    limit: int
    calls: tuple[CallRecord, ...]


def _espeak_voices() -> list[str] | None:
    from voicebot.speech.synthesizer import EspeakSynthesizer

    try:
        return EspeakSynthesizer().voices()
    except VoicebotError:
        return None


def _shown(problems: list[Problem], real: str, shown: str) -> tuple[str, ...]:
    """Problems located in the checked copy, reported at the name the user uploaded."""
    out = []
    for p in problems:
        if p.location.file and Path(p.location.file).name == Path(real).name:
            p = replace(p, location=replace(p.location, file=shown))
        out.append(str(p))
    return tuple(out)


class Console:
    def __init__(self, config: ConsoleConfig):
        self.config = config
        self.ledger, self.records = open_stores(
            config.campaign_db, config.call_records, config.campaign.region
        )
        # one connection per store, shared by the API's threads: one request at a time on each
        self._lock = threading.RLock()
        self._voices: list[str] | None = None
        self._voices_known = False

    def close(self) -> None:
        self.ledger.close()
        self.records.close()

    # -- flows -----------------------------------------------------------------------------------
    def _flow_path(self, name: str) -> Path:
        if not FLOW_NAME.match(name):
            raise FlowError(Problem(Location(name), "", "a flow is a file name ending in .yaml"))
        return self.config.flows_dir / name

    def flows(self) -> list[dict[str, Any]]:
        out = []
        for path in sorted(self.config.flows_dir.glob("*.yaml")):
            if path.name.endswith((".test.yaml", ".faq.yaml", ".qa.yaml")):  # beside flows
                continue
            versions = self._versions_dir(path.name)
            out.append(
                {
                    "name": path.name,
                    "bytes": path.stat().st_size,
                    "modified": datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(),
                    "versions": len(list(versions.glob("*.yaml"))) + 1,
                }
            )
        return out

    def flow_text(self, name: str) -> str:
        path = self._flow_path(name)
        if not path.is_file():
            raise FlowError(Problem(Location(name), "", f"no such flow in {self.config.flows_dir}"))
        return path.read_text(encoding="utf-8")

    def check_flow(self, name: str, text: str) -> FlowCheck:
        """`voicebot flow check` on `text` as if it were `flows_dir/name` (subflows, audio and
        knowledge files resolve beside it); the file is not kept."""
        self._flow_path(name)
        with tempfile.NamedTemporaryFile(
            "w", suffix=".yaml", prefix=".upload-", dir=self.config.flows_dir, encoding="utf-8"
        ) as f:
            f.write(text)
            f.flush()
            return self._check(Path(f.name), name)

    def _check(self, path: Path, shown: str) -> FlowCheck:
        from voicebot.flow.lint import lint
        from voicebot.flow.loader import load_flow

        try:
            loaded = load_flow(path, self.config.limits)
        except FlowError as exc:
            problems = list(exc.problems) or [
                Problem(Location(shown), "", str(exc))  # an error without a location
            ]
            return FlowCheck(shown, _shown(problems, str(path), shown), ())
        if not self._voices_known:
            self._voices, self._voices_known = _espeak_voices(), True
        findings = lint(loaded, audio_dir=self.config.audio_dir, voices=self._voices)
        errors = [f for f in findings if f.severity == "error"]
        warnings = [f for f in findings if f.severity != "error"]
        return FlowCheck(
            shown, _shown(errors, str(path), shown), _shown(warnings, str(path), shown)
        )

    def upload_flow(self, name: str, text: str) -> FlowCheck:
        """A new version of `name`: checked first; written only if it has no error. The
        version it replaces is kept under data_dir/flow_versions/NAME/."""
        target = self._flow_path(name)
        checked = self.check_flow(name, text)
        if not checked.ok:
            return checked
        if target.is_file():
            keep = self._versions_dir(name)
            keep.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
            (keep / f"{stamp}.yaml").write_bytes(target.read_bytes())
        partial = target.with_name(f".{name}.partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(target)  # atomic: a worker reading the flow sees one version or the other
        return checked

    def _versions_dir(self, name: str) -> Path:
        return self.config.data_dir / "flow_versions" / name

    # -- campaigns -------------------------------------------------------------------------------
    def campaigns(self, now: datetime | None = None) -> list[Summary]:
        now = now or datetime.now(UTC)
        with self._lock:
            return summaries(self.ledger, self.ledger.campaigns(), now)

    def campaign(self, name: str) -> Campaign:
        with self._lock:
            return self.ledger.campaign(name)

    def progress(self, name: str, now: datetime | None = None) -> Summary:
        with self._lock:
            return summary(self.ledger, self.ledger.campaign(name), now or datetime.now(UTC))

    def create_campaign(
        self,
        name: str,
        flow: str,
        csv: bytes,
        *,
        filename: str = "contacts.csv",
        options: dict[str, Any] | None = None,
        strict: bool = False,
        now: datetime | None = None,
    ) -> CampaignCreated:
        """As `voicebot campaign create`: the flow's `contact.*` names must be columns, every
        rejected row is reported at its line, `strict` refuses the lot if any row is."""
        from voicebot.campaign.contacts import check_columns, flow_fields, read_contacts
        from voicebot.flow.loader import load_flow

        now = now or datetime.now(UTC)
        shown = Path(filename).name or "contacts.csv"
        unknown = set(options or {}) - set(CAMPAIGN_OPTIONS)
        if unknown:
            raise CampaignError(f"unknown campaign option(s): {', '.join(sorted(unknown))}")
        try:
            settings = CampaignSettings.model_validate(
                {**self.config.campaign.model_dump(), **(options or {})}
            )
        except ValueError as exc:
            raise CampaignError(f"bad campaign options: {exc}") from None
        flow_path = self._flow_path(flow)
        loaded = load_flow(flow_path, self.config.limits)
        with tempfile.TemporaryDirectory(prefix="voicebot-upload-") as tmp:
            path = Path(tmp) / shown
            path.write_bytes(csv)
            imported = read_contacts(
                path,
                region=settings.region,
                required=flow_fields(loaded),
                name=shown,
                numbers=self.config.numbers,
                max_bytes=self.config.csv_bytes,
            )
        check_columns(loaded, imported.columns, imported.file)
        report = tuple(imported.messages())
        if strict and imported.rejected:
            raise CampaignError(
                f"{shown}: {len(imported.rejected)} row(s) rejected: nothing created\n"
                + "\n".join(report)
            )
        with self._lock:
            created = self.ledger.create(
                name, flow=str(flow_path.resolve()), imported=imported, settings=settings, now=now
            )
            counts = summary(self.ledger, created, now).counts
        return CampaignCreated(
            created.name,
            len(imported.accepted),
            len(imported.rejected),
            imported.rows,
            counts.get("dnc", 0),
            report,
        )

    def transition(self, name: str, action: str, now: datetime | None = None) -> Campaign:
        with self._lock:
            return self.ledger.transition(name, action, now or datetime.now(UTC))

    def export(self, name: str, fmt: str = "csv") -> str:
        with self._lock:
            campaign = self.ledger.campaign(name)
            rows = results(self.ledger, campaign)
        if fmt == "json":
            return export_json(campaign, rows)
        return export_csv(rows, campaign.columns)

    # -- calls -----------------------------------------------------------------------------------
    def calls(self, query: CallQuery) -> CallPage:
        with self._lock:
            total, found = self.records.search(query)
        return CallPage(total, query.offset, query.limit, found)

    def call(self, call_id: str) -> CallRecord | None:
        with self._lock:
            return self.records.get(call_id)

    def retention(self, now: datetime) -> dict[str, Any]:
        """What retention keeps (voicebot/call/retention.py): the setting, the cut-off, the
        oldest call kept, the last purge and how many calls have been purged."""
        from voicebot.call.retention import retention_status

        with self._lock:
            status = retention_status(self.records, self.config.retention_days, now)
        return {**status.as_dict(), "line": status.line()}

    def context(self, call_id: str) -> dict[str, Any] | None:
        """The agent's desktop document of a call (`call/context.py`): what a transfer's
        `X-Voicebot-Context` header (settings `transfers.context_url`) points at."""
        with self._lock:
            return agent_context(self.records, call_id)

    def recording(self, call_id: str) -> Path | None:
        """The call's recording, if it has one and the file is still there (under data_dir)."""
        record = self.call(call_id)
        if record is None or not record.recording_path:
            return None
        path = Path(record.recording_path)
        if not path.is_absolute():
            path = self.config.data_dir.parent / path if not path.exists() else path
        return path if path.is_file() else None

    # -- do-not-call list ------------------------------------------------------------------------
    def dnc(
        self, limit: int, offset: int = 0, number: str = ""
    ) -> tuple[int, list[dict[str, str]]]:
        """How many numbers match `number` (all: ""), and the page of them asked for."""
        with self._lock:
            dnc = self.ledger.dnc
            return dnc.count(number), [e.__dict__ for e in dnc.entries(limit, offset, number)]

    def dnc_add(self, number: str, reason: str, source: str) -> bool:
        with self._lock:
            return self.ledger.dnc.add(number, reason, now=datetime.now(UTC), source=source)

    def dnc_remove(self, number: str) -> bool:
        with self._lock:
            return self.ledger.dnc.remove(number)
