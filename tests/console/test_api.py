"""The console's API over the real stores (SQLite files), the real flow loader and lint, and the
real contacts import, through FastAPI's test client: tokens and roles, flows, campaigns from a
CSV, calls, recordings, the do-not-call list, the audit trail, /metrics."""

from __future__ import annotations

import json
import re
import shutil
import wave
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from voicebot import telemetry
from voicebot.call.records import CallStore, TurnRecord
from voicebot.console.api import ConsoleParts, create_app
from voicebot.console.audit import AuditTrail
from voicebot.console.database import open_engine
from voicebot.console.live import LiveCalls
from voicebot.console.metrics import Metrics
from voicebot.console.service import Console, ConsoleConfig
from voicebot.console.tokens import Role, TokenStore

ROOT = Path(__file__).resolve().parents[2]
CSV = (
    "phone,name,clinic,appointment,time\n"
    "+12125550101,Pat,Elm Clinic,2026-12-01,2:30 PM\n"
    "not a number,Sam,Elm Clinic,2026-12-01,2:30 PM\n"
    "+12125550102,Lee,Elm Clinic,2026-12-01,3:00 PM\n"
    "+12125550101,Pat again,Elm Clinic,2026-12-01,2:30 PM\n"
)

# a call in progress as a worker tells it: begun, a bot turn, a recognition, AMD, a SIP answer
A_CALL = (
    telemetry.CallBegan("a", "w1", "inbound", "sip:1@x", "sip:bot@y", "support_line", 1.0),
    telemetry.TurnTaken("a", "w1", "bot", "Hello", latency_ms=640.0),
    telemetry.Recognised("a", "w1", 0.31),
    telemetry.SipResponse("w1", 486),
    telemetry.AmdDecided("a", "w1", "machine"),
)


class Site:
    def __init__(self, tmp: Path):
        self.flows = tmp / "flows"
        self.flows.mkdir()
        for name in ("appointment_reminder.yaml", "support_line.yaml", "billing.yaml",
                     "support_line.faq.yaml"):  # fmt: skip
            shutil.copy(ROOT / "dialog_flows" / name, self.flows / name)
        config = ConsoleConfig(
            flows_dir=self.flows,
            campaign_db=tmp / "campaigns.db",
            call_records=tmp / "calls.db",
            data_dir=tmp / "var",
            audio_dir=ROOT / "audio_assets",
        )
        self.console = Console(config)
        engine = open_engine(config.campaign_db)
        self.tokens = TokenStore(engine)
        self.live = LiveCalls()
        self.metrics = Metrics(active=self.live.counts, campaigns=self.console.campaigns)
        parts = ConsoleParts(self.console, self.tokens, AuditTrail(engine), self.live, self.metrics)
        self.client = TestClient(create_app(parts))
        self.auth = {role: self.header(role) for role in Role}
        self.records = CallStore(config.call_records)

    def header(self, role: Role) -> dict[str, str]:
        _, token = self.tokens.create(role, f"test-{role.name}")
        return {"Authorization": f"Bearer {token}"}

    def happened(self, *events: telemetry.Event) -> None:
        for event in events:
            self.live.apply(event)
            self.metrics.apply(event)

    def get(self, path: str, role: Role = Role.viewer, **kw: Any) -> httpx.Response:
        return self.client.get(path, headers=self.auth[role], **kw)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    s = Site(tmp_path)
    yield s
    s.console.close()


def test_tokens_are_needed_and_roles_are_enforced(site: Site) -> None:
    c = site.client
    assert c.get("/api/v1/flows").status_code == 401
    assert c.get("/api/v1/flows", headers={"Authorization": "Bearer vb_wrong"}).status_code == 401
    assert site.get("/api/v1/flows").status_code == 200
    r = c.post("/api/v1/dnc", json={"number": "+12125550199"}, headers=site.auth[Role.viewer])
    assert r.status_code == 403 and "operator" in r.json()["detail"]
    r = c.post("/api/v1/dnc", json={"number": "+12125550199"}, headers=site.auth[Role.operator])
    assert r.status_code == 200 and r.json()["added"] is True
    assert site.get("/api/v1/audit", Role.operator).status_code == 403
    audit = site.get("/api/v1/audit", Role.admin).json()
    assert audit[0]["action"] == "dnc.add" and audit[0]["target"] == "+12125550199"
    assert "test-operator" in audit[0]["who"] and audit[0]["at"].startswith("20")
    # stored hashed: the token itself is nowhere in the database
    token = site.auth[Role.admin]["Authorization"].split()[1]
    assert token.encode() not in (site.flows.parent / "campaigns.db").read_bytes()
    _, revoked = site.tokens.create(Role.admin, "gone")
    site.tokens.revoke(site.tokens.identify(revoked).token_id)  # type: ignore[union-attr]
    assert c.get("/api/v1/flows", headers={"Authorization": f"Bearer {revoked}"}).status_code == 401


def test_flows_listed_checked_and_uploaded_only_when_they_pass(site: Site) -> None:
    c, admin = site.client, site.auth[Role.admin]
    names = [f["name"] for f in site.get("/api/v1/flows").json()]
    assert "appointment_reminder.yaml" in names and "support_line.faq.yaml" not in names
    text = (site.flows / "appointment_reminder.yaml").read_text()
    broken = text.replace("next: choose", "next: chose", 1)
    r = c.post("/api/v1/flows/check", json={"name": "appointment_reminder.yaml", "text": broken},
               headers=site.auth[Role.viewer])  # fmt: skip
    assert r.status_code == 200 and r.json()["ok"] is False
    error = r.json()["errors"][0]
    line = next(i for i, s in enumerate(broken.splitlines(), 1) if "next: chose" in s)
    assert error.startswith(f"appointment_reminder.yaml:{line}:") and "'chose'" in error
    r = c.put("/api/v1/flows/appointment_reminder.yaml", json={"text": broken},
              headers=site.auth[Role.operator])  # fmt: skip
    assert r.status_code == 403
    r = c.put("/api/v1/flows/appointment_reminder.yaml", json={"text": broken}, headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0] == error
    assert (site.flows / "appointment_reminder.yaml").read_text() == text  # rejected: unchanged
    better = text.replace("Which day would suit you better?", "Which day suits you?")
    r = c.put("/api/v1/flows/appointment_reminder.yaml", json={"text": better}, headers=admin)
    assert r.status_code == 200 and r.json()["ok"] is True
    assert (site.flows / "appointment_reminder.yaml").read_text() == better
    assert site.get("/api/v1/flows/appointment_reminder.yaml").text == better
    listed = {f["name"]: f for f in site.get("/api/v1/flows").json()}
    assert listed["appointment_reminder.yaml"]["versions"] == 2
    r = c.put("/api/v1/flows/..%2Fescape.yaml", json={"text": better}, headers=admin)
    assert r.status_code in (404, 422)
    assert not (site.flows.parent / "escape.yaml").exists()


def test_campaign_from_an_uploaded_csv_with_its_line_report(site: Site) -> None:
    c, op = site.client, site.auth[Role.operator]
    files = {"contacts": ("march.csv", CSV.encode(), "text/csv")}
    form = {"name": "march", "flow": "appointment_reminder.yaml", "max_concurrent": "2"}
    r = c.post("/api/v1/campaigns", data=form, files=files, headers=op)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["accepted"], body["rejected"], body["rows"]) == (2, 2, 4)
    assert body["report"][0].startswith("march.csv:3: ")
    assert body["report"][1].startswith("march.csv:5: ") and "line 2" in body["report"][1]
    r = c.post("/api/v1/campaigns", data={**form, "name": "strict", "strict": "true"},
               files=files, headers=op)  # fmt: skip
    assert r.status_code == 409 and "march.csv:3:" in r.json()["detail"]
    missing = "phone,name\n+12125550101,Pat\n"
    r = c.post("/api/v1/campaigns", data={**form, "name": "cols"},
               files={"contacts": ("cols.csv", missing.encode(), "text/csv")}, headers=op)  # fmt: skip
    assert r.status_code == 422 and "clinic" in r.text
    progress = site.get("/api/v1/campaigns/march").json()
    assert progress["state"] == "created" and progress["total"] == 4
    assert progress["counts"] == {"pending": 2, "rejected": 2}
    assert progress["settings"]["max_concurrent"] == 2
    assert c.post("/api/v1/campaigns/march/pause", headers=op).status_code == 409
    assert (
        c.post("/api/v1/campaigns/march/start", headers=site.auth[Role.viewer]).status_code == 403
    )
    r = c.post("/api/v1/campaigns/march/start", headers=op)
    assert r.json() == {"name": "march", "state": "running"}
    assert c.post("/api/v1/campaigns/nope/start", headers=op).status_code == 404
    exported = site.get("/api/v1/campaigns/march/export", params={"format": "json"}).json()
    assert [x["disposition"] for x in exported["contacts"]] == [
        "pending",
        "rejected",
        "pending",
        "rejected",
    ]
    csv_text = site.get("/api/v1/campaigns/march/export").text
    assert csv_text.splitlines()[0].startswith("line,phone,disposition")
    actions = [e["action"] for e in site.get("/api/v1/audit", Role.admin).json()]
    assert actions[:2] == ["campaign.start", "campaign.create"]


def test_calls_searched_paged_and_one_with_turns_and_recording(site: Site) -> None:
    store, start = site.records, datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    for i in range(30):
        store.call_started(f"c{i:02}", direction="inbound", from_uri=f"sip:+1212555{i:04}@x",
                           flow="support_line" if i % 2 else "billing", at=start + timedelta(minutes=i))  # fmt: skip
        store.call_ended(f"c{i:02}", outcome="completed" if i % 3 else "caller_hangup",
                         at=start + timedelta(minutes=i, seconds=40))  # fmt: skip
    page = site.get("/api/v1/calls", params={"limit": 10, "offset": 10}).json()
    assert page["total"] == 30 and [x["id"] for x in page["calls"]][:2] == ["c19", "c18"]
    found = site.get("/api/v1/calls", params={"number": "5550007"}).json()
    assert [x["id"] for x in found["calls"]] == ["c07"]
    q = {"outcome": "caller_hangup", "flow": "billing", "since": (start + timedelta(minutes=5)).isoformat(),
         "until": (start + timedelta(minutes=20)).isoformat()}  # fmt: skip
    assert [x["id"] for x in site.get("/api/v1/calls", params=q).json()["calls"]] == [
        "c18",
        "c12",
        "c06",
    ]
    store.add_turn("c07", TurnRecord("bot", "Thanks for calling", step="welcome"))
    store.add_turn("c07", TurnRecord("caller", "my balance", confidence=0.9))
    store.add_turn(
        "c07", TurnRecord("bot", "Your account number?", step="account", latency_ms=812.0)
    )
    wav = site.flows.parent / "var" / "recordings" / "c07.wav"
    wav.parent.mkdir(parents=True)
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes(b"\x00\x01" * 16000)
    store.call_ended("c07", outcome="completed", slots={"account": "12345678"},
                     recording_path=str(wav), at=start + timedelta(minutes=7, seconds=40))  # fmt: skip
    one = site.get("/api/v1/calls/c07").json()
    assert [t["who"] for t in one["turns"]] == ["bot", "caller", "bot"]
    assert one["latencies_ms"] == [812.0] and one["slots"] == {"account": "12345678"}
    assert one["has_recording"] is True and one["duration"] == 40.0
    r = site.get("/api/v1/calls/c07/recording")
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    assert r.content == wav.read_bytes()
    assert site.get("/api/v1/calls/c08/recording").status_code == 404
    assert site.get("/api/v1/calls/nope").status_code == 404
    kept = site.get("/api/v1/retention").json()  # retention.days 0 here: nothing is deleted
    assert kept["days"] == 0 and kept["before"] is None and kept["purged"] == 0
    assert kept["oldest_kept"].startswith("2026-11-24T10:00") and "forever" in kept["line"]
    store.purge_call("c00", start + timedelta(days=40))  # as `voicebot calls purge` does
    store.purge_logged(start + timedelta(days=40), 30, 1, 0)
    after = site.get("/api/v1/retention").json()
    assert after["purged"] == 1 and after["last_purge"].startswith("2027-01-03")
    assert after["oldest_kept"].startswith("2026-11-24T10:01")


def test_a_call_with_its_quality_findings_and_the_agents_context(site: Site) -> None:
    store = site.records
    store.call_started("t1", direction="inbound", from_uri="sip:+12125550100@x", flow="billing")
    store.add_turn("t1", TurnRecord("bot", "Billing. How can I help?", step="welcome"))
    store.add_turn("t1", TurnRecord("caller", "an agent please", confidence=0.8))
    store.transfer_started("t1", "warm", "sip:agent@pbx", "A call from 5 5 5 0 1 0 0.")
    store.call_ended("t1", outcome="transferred", steps=["welcome", "agent"])
    findings = [{"rule": "disclosure", "status": "broken", "turn": 0, "detail": "not said",
                 "weight": 20.0}]  # fmt: skip
    store.save_quality("t1", rules="billing.qa.yaml", score=80.0, findings=findings)
    one = site.get("/api/v1/calls/t1").json()
    assert one["quality"]["score"] == 80.0 and one["quality"]["findings"] == findings
    doc = site.get("/api/v1/calls/t1/context").json()
    assert doc["summary"] == "A call from 5 5 5 0 1 0 0." and doc["transfer"]["mode"] == "warm"
    assert [t["text"] for t in doc["transcript"]] == ["Billing. How can I help?", "an agent please"]
    assert site.get("/api/v1/calls/nope/context").status_code == 404
    assert site.client.get("/api/v1/calls/t1/context").status_code == 401


def test_dnc_list_and_metrics_follow_the_events(site: Site) -> None:
    c, op = site.client, site.auth[Role.operator]
    assert c.post("/api/v1/dnc", json={"number": "(212) 555-0123"}, headers=op).status_code == 200
    assert c.post("/api/v1/dnc", json={"number": "banana"}, headers=op).status_code == 422
    assert [e["number"] for e in site.get("/api/v1/dnc").json()] == ["+12125550123"]
    for n in ("+12125550124", "+12125550125", "+13105550123"):
        assert c.post("/api/v1/dnc", json={"number": n}, headers=op).status_code == 200
    page = site.get("/api/v1/dnc?limit=2&offset=1")  # a page in number order, and the total
    assert [e["number"] for e in page.json()] == ["+12125550124", "+12125550125"]
    assert page.headers["X-Total-Count"] == "4"
    found = site.get("/api/v1/dnc?number=5550123")
    assert [e["number"] for e in found.json()] == ["+12125550123", "+13105550123"]
    assert found.headers["X-Total-Count"] == "2"
    for n in ("+12125550124", "+12125550125", "+13105550123"):
        assert c.delete(f"/api/v1/dnc/{n}", headers=op).json()["removed"] is True
    assert c.delete("/api/v1/dnc/+12125550123", headers=op).json()["removed"] is True
    site.happened(*A_CALL)
    families = {f.name: f for f in text_string_to_metric_families(c.get("/metrics").text)}
    active = {s.labels["direction"]: s.value for s in families["voicebot_calls_active"].samples}
    assert active == {"inbound": 1, "outbound": 0}
    site.happened(telemetry.CallFinished("a", "w1", "completed"))
    families = {f.name: f for f in text_string_to_metric_families(c.get("/metrics").text)}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in families.values() for s in f.samples}  # fmt: skip
    assert samples[("voicebot_calls_active", (("direction", "inbound"),))] == 0
    assert samples[("voicebot_calls_ended_total", (("outcome", "completed"),))] == 1
    assert samples[("voicebot_turn_latency_seconds_count", ())] == 1
    assert samples[("voicebot_turn_latency_seconds_bucket", (("le", "0.75"),))] == 1
    assert samples[("voicebot_recognition_seconds_sum", ())] == pytest.approx(0.31)
    assert samples[("voicebot_sip_responses_total", (("code", "486"),))] == 1
    assert samples[("voicebot_amd_decisions_total", (("answered_by", "machine"),))] == 1
    live = site.get("/api/v1/live").json()
    assert live[0]["call_id"] == "a" and live[0]["outcome"] == "completed"
    assert live[0]["turns"][0]["text"] == "Hello"
    assert json.loads(json.dumps(live))  # plain JSON


def test_the_grafana_dashboard_reads_only_series_metrics_exports(site: Site) -> None:
    """deploy/grafana-dashboard.json: every metric an expression names is one /metrics serves
    once each kind of event has happened (a campaign, a call, a turn, AMD, SIP, a restart)."""
    files = {"contacts": ("c.csv", CSV.encode())}
    form = {"name": "g", "flow": "appointment_reminder.yaml"}
    op = site.auth[Role.operator]
    assert site.client.post("/api/v1/campaigns", data=form, files=files, headers=op).is_success
    site.happened(*A_CALL, telemetry.CallFinished("a", "w1", "completed"))
    site.metrics.worker_restarted("w1")
    text = site.client.get("/metrics").text
    served = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    dashboard = json.loads((ROOT / "deploy" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    named = {m for e in exprs for m in re.findall(r"\bvoicebot_[a-z_]+\b", e)}
    assert named and named <= served, sorted(named - served)
    # and every series /metrics serves has a panel (a new metric is added to the dashboard too)
    families = {f.name for f in text_string_to_metric_families(text)} - {
        n
        for n in served
        if n.endswith("_created")  # prometheus_client's start times
    }
    shown = {n.removesuffix(x) for n in named for x in ("_total", "_bucket", "_sum", "_count")
             if n.endswith(x)} | named  # fmt: skip
    assert families <= shown, sorted(families - shown)
