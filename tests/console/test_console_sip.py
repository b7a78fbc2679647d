"""The console of a running `voicebot serve` over real SIP calls on loopback: a campaign
created from a CSV through the API is dialed (the supervisor's dialer, the simulated callees),
each turn arrives on the live stream (SSE) as it happens, /metrics (parsed with
prometheus_client's parser) moves with the calls, and every call is found with its turns,
latencies and slots."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import pytest
from console_site import Running, contacts_csv, running, wait_finished  # noqa: F401 (fixture)
from prometheus_client.parser import text_string_to_metric_families

pytestmark = [pytest.mark.sip, pytest.mark.slow]


def samples(site: Running) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{site.url}/metrics", timeout=10).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def listen(site: Running, into: list[dict[str, Any]], stop: threading.Event) -> None:
    """Read the live stream (SSE) until `stop`; every message, in order."""
    try:
        with site.client("viewer") as c, c.stream("GET", "/api/v1/live/stream") as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            for line in r.iter_lines():
                if line.startswith("data: "):
                    into.append(json.loads(line[6:]))
                if stop.is_set():
                    return
    except httpx.RemoteProtocolError:  # serve stopped while the stream was open
        if not stop.is_set():
            raise


def test_a_campaign_from_the_api_is_dialed_streamed_and_counted(running: Running) -> None:  # noqa: F811
    site = running
    before = samples(site)
    assert before[("voicebot_workers_alive", ())] == 1
    messages: list[dict[str, Any]] = []
    stop = threading.Event()
    reader = threading.Thread(target=listen, args=(site, messages, stop), daemon=True)
    reader.start()
    # two humans who answer "yes I'll be there" (tens digit 5), one busy line
    csv = contacts_csv([("+12125550151", "Pat"), ("+12125550152", "Lee"), ("+12125550301", "Sam")])
    with site.client("operator") as c:
        form = {"name": "api", "flow": "leave_message.yaml", "max_attempts": "1", "cps": "2"}
        r = c.post("/api/v1/campaigns", data=form, files={"contacts": ("api.csv", csv)})
        assert r.status_code == 201, r.text
        assert r.json()["accepted"] == 3
        assert c.post("/api/v1/campaigns/api/start").json()["state"] == "running"
        progress = wait_finished(c, "api", 150, site)
    assert progress["counts"] == {"completed": 2, "max_attempts": 1}, progress
    after = samples(site)
    stop.set()

    def moved(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert moved("voicebot_calls_ended_total", outcome="completed") == 2
    assert moved("voicebot_calls_ended_total", outcome="not_answered") == 1
    assert moved("voicebot_sip_responses_total", code="486") == 1
    assert moved("voicebot_amd_decisions_total", answered_by="human") == 2
    assert moved("voicebot_turn_latency_seconds_count") >= 2
    assert moved("voicebot_recognition_seconds_count") >= 2
    assert after[("voicebot_calls_active", (("direction", "outbound"),))] == 0
    assert after[("voicebot_campaign_done_ratio", (("campaign", "api"),))] == 1.0
    assert after[("voicebot_campaign_contacts", (("campaign", "api"), ("disposition", "completed")))] == 2  # fmt: skip

    with site.client("viewer") as c:
        page = c.get("/api/v1/calls", params={"number": "5550151"}).json()
        assert page["total"] == 1, page
        call = c.get(f"/api/v1/calls/{page['calls'][0]['id']}").json()
        workers = c.get("/api/v1/workers").json()
    assert call["outcome"] == "completed" and call["slots"]["moment"] is True
    said = [t["text"] for t in call["turns"] if t["who"] == "caller"]
    assert any("yes" in s.lower() for s in said), call["turns"]
    assert call["latencies_ms"] and all(0 < ms < 10_000 for ms in call["latencies_ms"])
    assert workers[0]["name"] == "w1" and workers[0]["alive"] and workers[0]["healthy"]

    # the live stream carried each call and its turns as they happened
    began = {m["call"]["call_id"] for m in messages if m["type"] == "began"}
    assert call["id"] in began
    turns = [m["turn"] for m in messages if m["type"] == "turn" and m["call_id"] == call["id"]]
    assert [t["text"] for t in turns] == [t["text"] for t in call["turns"]]
    ended = [m for m in messages if m["type"] == "ended" and m["call_id"] == call["id"]]
    assert ended and ended[0]["outcome"] == "completed"
