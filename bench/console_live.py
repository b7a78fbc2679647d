"""Live turns on the console: from a turn ending to its Server-Sent Event reaching a client.

Real SIP calls on loopback into `voicebot serve` (`voicebot.testing.console_site`: the console
on a free port, the simulated callees as the campaign trunk) over the database the console
bench filled (its running campaign paused first: serve would dial it): a campaign of the
shipped appointment_reminder flow is created and started through the API, the callees answer
as people who say "hello?" and then "yes I'll be there" (or press 1), and a client of
/api/v1/live/stream notes when each `turn` event arrives (time.time(), the same clock as the
workers'). Each turn is matched with its call record (same call, same order, same text):

    caller turn   its record's `at` is when the recognition came back (the turn is recognised)
    bot turn      its record's `at` is when the bot began to say it (recorded as it starts to
                  play; the words are on the page before the bot has finished saying them)

and the event's own `at` (stamped by the worker after the record was written) gives the relay's
share. Target (issue 14): the turn on the dashboard <= 1 s after it ended.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.console_data import FLOWS
from bench.telephony_wire import percentile
from voicebot.campaign.ledger import Ledger
from voicebot.testing.console_site import Running, console_site, contacts_csv, wait_finished

TARGET_S = 1.0
COLUMNS = "appointment,clinic,time"


def _listen(site: Running, into: list[tuple[float, dict[str, Any]]], stop: threading.Event) -> None:
    try:
        with site.client("viewer") as c, c.stream("GET", "/api/v1/live/stream") as r:
            for line in r.iter_lines():
                if line.startswith("data: "):
                    into.append((time.time(), json.loads(line[6:])))
                if stop.is_set():
                    return
    except httpx.HTTPError:  # serve stopped while the stream was open
        if not stop.is_set():
            raise


def pause_running(database: Path) -> list[str]:
    """The filled database's running campaign would be dialed first by `serve` (its contacts
    are not the callees'): paused, so the measured campaign is the one dialed."""
    ledger = Ledger(database)
    try:
        running = [c.name for c in ledger.campaigns() if c.state == "running"]
        for name in running:
            ledger.transition(name, "pause", datetime.now(UTC))
    finally:
        ledger.close()
    return running


def live_turns(database: Path, calls: int, out: Path) -> dict[str, Any]:
    """`calls` campaign calls into `serve` over the SQLite `database`; the turns' delays."""
    tmp = out / "live"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    extra = {"VOICEBOT_CALL_RECORDS": str(database), "VOICEBOT_CAMPAIGN__DATABASE": str(database)}
    flow = FLOWS / "appointment_reminder.yaml"
    # ..1[5-9]x: a person who answers "yes I'll be there" (voicebot.testing.callees)
    rows = [(f"+1212555{150 + i:04d}", f"Pat {i},2026-12-20,Main St Clinic,10:30")
            for i in range(calls)]  # fmt: skip
    pause_running(database)
    messages: list[tuple[float, dict[str, Any]]] = []
    stop = threading.Event()
    with console_site(tmp, [flow], extra) as site:
        reader = threading.Thread(target=_listen, args=(site, messages, stop), daemon=True)
        reader.start()
        deadline = time.monotonic() + 30
        while not any(m["type"] == "snapshot" for _, m in messages):
            assert time.monotonic() < deadline, "the live stream did not open"
            time.sleep(0.05)
        with site.client("operator") as c:
            form = {"name": "live-bench", "flow": flow.name, "max_attempts": "1", "cps": "1",
                    "max_concurrent": "2"}  # fmt: skip
            files = {"contacts": ("live.csv", contacts_csv(rows, COLUMNS))}
            r = c.post("/api/v1/campaigns", data=form, files=files)
            assert r.status_code == 201, r.text
            assert c.post("/api/v1/campaigns/live-bench/start").status_code == 200
            progress = wait_finished(c, "live-bench", 90 + 40 * calls, site)
            time.sleep(1.0)  # the last events on their way
            stop.set()
            began = [m["call"]["call_id"] for _, m in messages if m["type"] == "began"]
            records = {cid: c.get(f"/api/v1/calls/{cid}").json() for cid in began}
    delays: dict[str, list[float]] = {"caller": [], "bot": []}
    relay: list[float] = []
    unmatched = 0
    for call_id, record in records.items():
        events = [(t, m["turn"]) for t, m in messages
                  if m["type"] == "turn" and m["call_id"] == call_id]  # fmt: skip
        turns = record.get("turns", [])
        if [e["text"] for _, e in events] != [t["text"] for t in turns]:
            unmatched += 1
            continue
        for (arrived, event), turn in zip(events, turns, strict=True):
            ended = datetime.fromisoformat(turn["at"]).timestamp()
            delays[turn["who"]].append(arrived - ended)
            relay.append(arrived - event["at"])
    return {
        "calls": len(records),
        "counts": progress["counts"],
        "unmatched_calls": unmatched,
        "caller": delays["caller"],
        "bot": delays["bot"],
        "relay": relay,
    }


def live_lines(live: dict[str, Any], command: str) -> list[str]:
    def row(name: str, values: list[float]) -> str:
        if not values:
            return f"| {name} | 0 | - | - | - | |"
        p95 = percentile(values, 95)
        verdict = "met" if p95 <= TARGET_S else "**missed**"
        p50, top = percentile(values, 50), max(values)
        return (f"| {name} | {len(values)} | {p50 * 1000:.0f} | {p95 * 1000:.0f} | "
                f"{top * 1000:.0f} | p95 <= 1 s: {verdict} |")  # fmt: skip

    return [
        f"Live turns (`{command}`): {live['calls']} real SIP calls on loopback into `voicebot "
        "serve` over this SQLite database (campaign of the shipped appointment_reminder flow, "
        f"the simulated callees answering; dispositions {live['counts']}), a client of "
        "/api/v1/live/stream noting each `turn` event's arrival. Caller turn: from its "
        "recognition (the record's `at`); bot turn: from the record's `at`, when it began to "
        "play (the words show before the bot has finished them); relay: from the worker's "
        f"event stamp. {live['unmatched_calls']} call(s) whose events and record differed.",
        "",
        "| live turn to the SSE client | turns | p50 ms | p95 ms | max ms | target |",
        "|---|---:|---:|---:|---:|---|",
        row("caller turn recognised -> event", live["caller"]),
        row("bot turn recorded -> event", live["bot"]),
        row("worker's event -> client (relay)", live["relay"]),
    ]
