"""The operators' console against a database of 100,000 call records: API p95 and page times.

    .venv/bin/python bench/console_bench.py [--calls 100000] [--backends sqlite,postgresql]
        [--repeat 40] [--browser] [--write]

For each backend it fills a fresh database (`bench/console_data.py`: call records with turns
and quality findings, campaigns with their contacts and attempts, a do-not-call list; SQLite a
file, PostgreSQL the throwaway cluster of voicebot/testing/postgres.py), starts the console as
`voicebot serve` does (`create_app(ConsoleParts(...))` under `ConsoleServer`, uvicorn on a
loopback port) in a process of its own, and times, from a client with one kept-alive
connection:

* every API endpoint operators use (calls searched by number, time range, outcome, flow, their
  mixes and a far page; one call with its turns; campaigns and one campaign's progress; flows;
  the do-not-call list; retention; /metrics), `--repeat` requests each with varying arguments;
* each dashboard page as the page loads it (index.html, app.js, style.css, then the API calls its
  script makes, one after another: an upper bound of the browser's concurrent loads), and with
  `--browser` a real page load in Debian's chromium (Playwright): navigation to the data shown.

Every answer is checked against what was written (totals by outcome, flow, number, time range;
the call's turns; the campaigns' row counts): a wrong count is an error, and the run fails.
Targets (issue 14): API p95 <= 50 ms, pages <= 300 ms. `--write` puts the table into
BENCHMARKS.md with the command line.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import platform
import random
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.benchmarks_md import write_section  # noqa: E402 (after the path set-up)
from bench.console_data import FLOWS, Filled, fill  # noqa: E402
from bench.telephony_wire import percentile  # noqa: E402

HEADING = "## Operators' console"
API_TARGET_MS, PAGE_TARGET_MS = 50.0, 300.0
STATIC = ("/", "/static/app.js", "/static/style.css", "/api/v1/whoami")
CHROMIUM = "/usr/bin/chromium"


# -- the server: the console as `voicebot serve` builds it, in its own process -----------------
def serve(url: str, port: int, data_dir: Path) -> None:
    """The console of `serve_with_console` (voicebot/console/serving.py) without the workers and
    dialers: the same service layer, stores, token store, audit trail, live view, metrics."""
    from voicebot.console.api import ConsoleParts, create_app
    from voicebot.console.audit import AuditTrail
    from voicebot.console.database import open_engine
    from voicebot.console.live import LiveCalls
    from voicebot.console.metrics import Metrics
    from voicebot.console.server import ConsoleServer
    from voicebot.console.service import Console, ConsoleConfig
    from voicebot.console.tokens import TokenStore

    console = Console(
        ConsoleConfig(flows_dir=FLOWS, campaign_db=url, call_records=url, data_dir=data_dir)
    )
    engine = open_engine(url)
    live = LiveCalls()
    metrics = Metrics(active=live.counts, alive=lambda: 0, campaigns=console.campaigns)
    parts = ConsoleParts(console, TokenStore(engine), AuditTrail(engine), live, metrics)
    server = ConsoleServer(create_app(parts), "127.0.0.1", port)
    server.start()
    print(f"console at {server.url}", flush=True)
    try:
        sys.stdin.read()  # until the bench closes our stdin
    finally:
        server.stop()
        console.close()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def console_process(url: str, data_dir: Path) -> Iterator[str]:
    port = free_port()
    args = [sys.executable, str(Path(__file__).resolve()), "--serve", url, "--port", str(port),
            "--data-dir", str(data_dir)]  # fmt: skip
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("console at "):
            raise RuntimeError(f"the console did not start: {line!r} (exit {proc.poll()})")
        yield f"http://127.0.0.1:{port}"
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# -- what is measured --------------------------------------------------------------------------
@dataclass
class Expect:
    """What was written, to check the answers against."""

    filled: Filled
    starts: list[str]  # every call's started_at (ISO, UTC), sorted
    by_number: dict[str, int]  # E.164 number: calls with it in from_uri or to_uri
    pairs: list[tuple[str, str]]  # every call's caller's and callee's number ('' for none)
    turns_of: dict[str, int]  # call id: its turns (the sampled calls)
    campaign_rows: dict[str, int]  # campaign: CSV rows (accepted and rejected)
    dnc: list[str]  # the do-not-call list, in number order

    def in_range(self, since: str, until: str) -> int:
        return bisect.bisect_left(self.starts, until) - bisect.bisect_left(self.starts, since)

    def with_number(self, digits: str) -> int:
        """Calls whose caller's or callee's number ends with `digits`."""
        return sum(a.endswith(digits) or b.endswith(digits) for a, b in self.pairs)


def expectations(url: str, filled: Filled) -> Expect:
    """Read back from the database once (not through the console) what the checks compare."""
    from voicebot.database import Database

    db = Database(url)
    starts = sorted(r[0] for r in db.execute("SELECT started_at FROM calls"))
    by_number: dict[str, int] = {}
    pairs = []
    for from_uri, to_uri in db.execute("SELECT from_uri, to_uri FROM calls"):
        pair = (_number(from_uri), _number(to_uri))
        pairs.append(pair)
        for number in set(pair) - {""}:
            by_number[number] = by_number.get(number, 0) + 1
    sample = filled.call_ids[:200]
    turns_of = {c: 0 for c in sample}
    for i in range(0, len(sample), 100):
        chunk = sample[i : i + 100]
        marks = ", ".join("?" * len(chunk))
        query = f"SELECT call_id, COUNT(*) FROM turns WHERE call_id IN ({marks}) GROUP BY call_id"
        for call_id, n in db.execute(query, chunk):
            turns_of[call_id] = n
    rows = {
        r[0]: r[1] + r[2]
        for r in db.execute(
            "SELECT c.name, (SELECT COUNT(*) FROM contacts WHERE campaign_id = c.id),"
            " (SELECT COUNT(*) FROM rejects WHERE campaign_id = c.id) FROM campaigns c"
        )
    }
    dnc = [r[0] for r in db.execute("SELECT number FROM dnc ORDER BY number")]
    db.close()
    return Expect(filled, starts, by_number, pairs, turns_of, rows, dnc)


def _number(uri: str) -> str:
    user = uri.removeprefix("sip:").split("@")[0]
    return user if user.startswith("+") else ""


Check = Callable[[Any], str | None]  # the answer's body: None, or what is wrong with it
Request = tuple[str, Check]


def _total(expected: int) -> Check:
    def check(body: Any) -> str | None:
        if body["total"] != expected:
            return f"total {body['total']}, expected {expected}"
        if len(body["calls"]) != min(body["limit"], max(0, expected - body["offset"])):
            return f"{len(body['calls'])} calls on the page"
        return None

    return check


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds")


def endpoints(x: Expect, rng: random.Random) -> dict[str, Callable[[], Request]]:
    """Each endpoint: a function making the next request (path and its check)."""
    f = x.filled
    last, first = f.last, f.first
    outcomes = sorted(f.outcomes)
    numbers = [n for n in x.by_number if n != "+12125550100"]  # not the bot's own number
    popular = sorted(numbers, key=lambda n: -x.by_number[n])[:50]

    def day() -> tuple[str, str]:
        start = first + (last - first) * rng.random()
        return _iso(start), _iso(start + timedelta(days=1))

    def by_number() -> Request:
        number = rng.choice(popular if rng.random() < 0.5 else numbers)
        digits = number[-7:]  # what an operator types: the last digits
        return f"/api/v1/calls?number={digits}", _total(x.with_number(digits))

    def by_range() -> Request:
        since, until = day()
        q = httpx.QueryParams({"since": since, "until": until})
        return f"/api/v1/calls?{q}", _total(x.in_range(since, until))

    def by_outcome() -> Request:
        outcome = rng.choice(outcomes)
        return f"/api/v1/calls?outcome={outcome}", _total(f.outcomes[outcome])

    def by_flow() -> Request:
        flow = rng.choice(sorted(f.by_flow))
        return f"/api/v1/calls?flow={flow}", _total(f.by_flow[flow])

    def outcome_in_week() -> Request:
        start = first + (last - first - timedelta(days=7)) * rng.random()
        q = httpx.QueryParams({"outcome": "transferred", "since": _iso(start),
                               "until": _iso(start + timedelta(days=7))})  # fmt: skip
        return f"/api/v1/calls?{q}", lambda body: None if body["total"] >= 0 else "no total"

    def first_page() -> Request:
        return "/api/v1/calls?limit=25&offset=0", _total(f.calls)

    def far_page() -> Request:
        offset = rng.randrange(0, max(1, f.calls - 50))
        return f"/api/v1/calls?limit=50&offset={offset}", _total(f.calls)

    def one_call() -> Request:
        call_id = rng.choice(list(x.turns_of))

        def check(body: Any) -> str | None:
            if len(body["turns"]) != x.turns_of[call_id]:
                return f"{len(body['turns'])} turns, expected {x.turns_of[call_id]}"
            return None

        return f"/api/v1/calls/{call_id}", check

    def campaigns() -> Request:
        def check(body: Any) -> str | None:
            got = {c["name"]: c["total"] for c in body}
            return None if got == x.campaign_rows else f"campaigns {got}"

        return "/api/v1/campaigns", check

    def progress() -> Request:
        name = rng.choice(sorted(x.campaign_rows))

        def check(body: Any) -> str | None:
            if (
                body["total"] != x.campaign_rows[name]
                or sum(body["counts"].values()) != body["total"]
            ):
                return f"progress of {name}: {body['total']} rows, counts {body['counts']}"
            return None

        return f"/api/v1/campaigns/{name}", check

    def flows() -> Request:
        return "/api/v1/flows", lambda body: None if len(body) >= 5 else f"{len(body)} flows"

    def dnc() -> Request:
        offset = rng.randrange(0, len(x.dnc))
        want = x.dnc[offset : offset + 100]

        def check(body: Any) -> str | None:
            got = [e["number"] for e in body]
            return None if got == want else f"{len(got)} numbers from {offset}, not the list's"

        return f"/api/v1/dnc?limit=100&offset={offset}", check

    def dnc_lookup() -> Request:
        number = rng.choice(x.dnc)

        def check(body: Any) -> str | None:
            got = [e["number"] for e in body]
            return None if got == [n for n in x.dnc if number[-7:] in n][:100] else f"{got}"

        return f"/api/v1/dnc?number={number[-7:]}", check

    def retention() -> Request:
        return "/api/v1/retention", lambda body: None if body["oldest_kept"] else "no oldest call"

    def metrics() -> Request:
        def check(text: str) -> str | None:
            from prometheus_client.parser import text_string_to_metric_families

            rows = {
                s.labels["campaign"]: 0.0 for fam in text_string_to_metric_families(text)
                for s in fam.samples if s.name == "voicebot_campaign_contacts"
            }  # fmt: skip
            for fam in text_string_to_metric_families(text):
                for s in fam.samples:
                    if s.name == "voicebot_campaign_contacts":
                        rows[s.labels["campaign"]] += s.value
            got = {k: int(v) for k, v in rows.items()}
            return None if got == x.campaign_rows else f"campaign contacts {got}"

        return "/metrics", check

    return {
        "calls: first page": first_page,
        "calls: by number": by_number,
        "calls: by time range (a day)": by_range,
        "calls: by outcome": by_outcome,
        "calls: by flow": by_flow,
        "calls: outcome in a week": outcome_in_week,
        "calls: a far page": far_page,
        "one call with turns": one_call,
        "campaigns list": campaigns,
        "campaign progress": progress,
        "flows list": flows,
        "do-not-call list (a page)": dnc,
        "do-not-call lookup": dnc_lookup,
        "retention": retention,
        "/metrics": metrics,
    }


def pages(x: Expect, rng: random.Random) -> dict[str, Callable[[], list[Request]]]:
    """Each dashboard page: its requests as app.js makes them (after the static files)."""
    any_ok: Check = lambda body: None  # noqa: E731
    ep = endpoints(x, rng)

    def static() -> list[Request]:
        return [(p, any_ok) for p in STATIC]

    return {
        "page: campaigns": lambda: [*static(), ep["flows list"](), ep["campaigns list"]()],
        "page: calls": lambda: [*static(), ep["calls: first page"](), ep["retention"]()],
        "page: calls searched by number": lambda: [
            *static(),
            ep["calls: by number"](),
            ep["retention"](),
        ],  # fmt: skip
        "page: one call": lambda: [*static(), ep["one call with turns"]()],
        "page: workers": lambda: [*static(), ("/api/v1/workers", any_ok)],
    }


def _get(client: httpx.Client, path: str, check: Check) -> tuple[float, int, str | None]:
    t0 = time.perf_counter()
    r = client.get(path)
    ms = (time.perf_counter() - t0) * 1000
    if r.status_code != 200:
        return ms, r.status_code, f"{path}: HTTP {r.status_code} {r.text[:200]}"
    kind = r.headers.get("content-type", "")
    body = r.json() if kind.startswith("application/json") else r.text
    problem = check(body)
    return ms, r.status_code, f"{path}: {problem}" if problem else None


def measure(url: str, token: str, x: Expect, repeat: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    out: dict[str, Any] = {"endpoints": {}, "pages": {}, "errors": []}
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        for name, make in endpoints(x, rng).items():
            times, codes = [], []
            for i in range(repeat + 3):  # the first three warm the caches and the connection
                ms, code, problem = _get(client, *make())
                if problem:
                    out["errors"].append(f"{name}: {problem}")
                if i >= 3:
                    times.append(ms)
                    codes.append(code)
            out["endpoints"][name] = _stats(times, codes)
            print(f"  {name}: {out['endpoints'][name]}", flush=True)
        for name, make in pages(x, rng).items():
            times, codes = [], []
            for i in range(repeat + 3):
                total = 0.0
                for path, check in make():
                    ms, code, problem = _get(client, path, check)
                    total += ms
                    if problem:
                        out["errors"].append(f"{name}: {problem}")
                    if i >= 3:
                        codes.append(code)
                if i >= 3:
                    times.append(total)
            out["pages"][name] = _stats(times, codes)
            print(f"  {name}: {out['pages'][name]}", flush=True)
    return out


def _stats(times: list[float], codes: list[int]) -> dict[str, Any]:
    return {
        "n": len(times),
        "p50": round(percentile(times, 50), 1),
        "p95": round(percentile(times, 95), 1),
        "max": round(max(times), 1),
        "codes": sorted(set(codes)),
    }


# -- the browser ---------------------------------------------------------------------------------
def browser_pages(url: str, token: str, x: Expect, repeat: int) -> dict[str, Any]:
    """Page loads in chromium: from the navigation's start to the page showing its data, timed
    in the page (performance.now() when a MutationObserver first sees the data in the DOM)."""
    from playwright.sync_api import sync_playwright

    call_id = next(iter(x.turns_of))
    ready = {  # the page's data is on screen
        "campaigns": "document.querySelectorAll('#campaign-rows tr').length >= "
        + str(len(x.campaign_rows)),
        "calls": "document.querySelectorAll('#call-rows tr').length >= 25",
        "call": "document.querySelectorAll('#call-turns li').length > 0",
        "live": "document.getElementById('live-state').textContent === 'connected'",
    }
    watch = (
        "window.__shown = null; const READY = {"
        + ", ".join(f"{k!r}: () => {v}" for k, v in ready.items())
        + "}; const page = (location.hash.slice(1) || 'campaigns').split('/')[0];"
        " new MutationObserver(() => { try { if (window.__shown === null && READY[page]())"
        " window.__shown = performance.now(); } catch (e) {} }).observe(document,"
        " {subtree: true, childList: true, characterData: true});"
    )
    shown = {"campaigns": "#campaigns", "calls": "#calls", "one call": f"#call/{call_id}",
             "live": "#live"}  # fmt: skip
    out: dict[str, Any] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            context = browser.new_context()
            context.add_init_script(f"localStorage.setItem('voicebot-token', {json.dumps(token)})")
            context.add_init_script(watch)
            page = context.new_page()
            for name, fragment in shown.items():
                times = []
                for i in range(repeat + 2):
                    page.goto("about:blank")
                    page.goto(f"{url}/{fragment}")
                    page.wait_for_function("window.__shown !== null", timeout=30_000)
                    if i >= 2:
                        times.append(float(page.evaluate("window.__shown")))
                out[f"chromium: {name}"] = _stats(times, [200])
                print(f"  chromium: {name}: {out[f'chromium: {name}']}", flush=True)
        finally:
            browser.close()
    return out


# -- one backend -------------------------------------------------------------------------------
def run_backend(backend: str, args: argparse.Namespace, pg: Any) -> dict[str, Any]:
    out_dir = args.out / backend
    out_dir.mkdir(parents=True, exist_ok=True)
    if backend == "sqlite":
        path = out_dir / "voicebot.db"
        for leftover in out_dir.glob("voicebot.db*"):
            leftover.unlink()
        url = f"sqlite:///{path}"
    else:
        url = pg.url(f"console{os.getpid()}")
    t0 = time.monotonic()
    filled = fill(url, out_dir / "var", args.calls, seed=args.seed)
    fill_s = time.monotonic() - t0
    x = expectations(url, filled)
    from voicebot.console.database import open_engine
    from voicebot.console.tokens import Role, TokenStore

    engine = open_engine(url)
    _id, token = TokenStore(engine).create(Role.viewer, "bench")
    engine.dispose()
    with console_process(url, out_dir / "var") as base:
        result = measure(base, token, x, args.repeat, args.seed)
        if args.browser:
            result["browser"] = browser_pages(base, token, x, max(3, args.repeat // 4))
    result["fill_seconds"] = round(fill_s, 1)
    result["filled"] = filled.summary()
    return result


# -- the report --------------------------------------------------------------------------------
def command_line() -> str:
    def rel(arg: str) -> str:
        path = Path(arg)
        if path.is_absolute() and path.is_relative_to(ROOT):
            return str(path.relative_to(ROOT))
        return arg

    return shlex.join([".venv/bin/python", rel(str(Path(sys.argv[0]).resolve())), *sys.argv[1:]])


def report(results: dict[str, Any], meta: dict[str, Any]) -> list[str]:
    backends = list(results["backends"])
    names: list[str] = []
    for b in backends:
        for kind in ("endpoints", "pages", "browser"):
            for name in results["backends"][b].get(kind, {}):
                if name not in names:
                    names.append(name)
    first = results["backends"][backends[0]]["filled"]
    lines = [
        f"`{meta['command']}` ({meta['when']}, {meta['machine']}, shared: load average "
        f"{meta['load']})",
        "",
        f"{first['calls']:,} call records ({first['turns']:,} turns, {first['quality']:,} quality"
        f" inspections), {len(first['campaigns'])} campaigns of "
        f"{sum(first['campaigns'].values()):,} contacts, {first['dnc']:,} numbers on the "
        f"do-not-call list; {meta['repeat']} requests per row after 3 warm-up ones, one client "
        "on a kept-alive connection to the console (`create_app` under uvicorn, as `serve` "
        "runs it) on loopback. Pages: index.html, app.js, style.css, whoami and the page's API "
        "calls one after another (the browser makes some at once: an upper bound); chromium: "
        "Debian's headless chromium (Playwright), from the navigation's start to the page "
        "showing its data (performance.now() in the page), browser cache warm.",
        "",
        "| request | " + " | ".join(f"{b} p50 ms | {b} p95 ms" for b in backends) + " | target |",
        "|---|" + "---:|---:|" * len(backends) + "---|",
    ]
    for name in names:
        cells = []
        verdicts = []
        target = PAGE_TARGET_MS if name.startswith(("page", "chromium")) else API_TARGET_MS
        for b in backends:
            r = results["backends"][b]
            row = {**r["endpoints"], **r["pages"], **r.get("browser", {})}.get(name)
            if row is None:
                cells += ["-", "-"]
                continue
            cells += [f"{row['p50']:.1f}", f"{row['p95']:.1f}"]
            verdicts.append(row["p95"] <= target)
        verdict = ("met" if all(verdicts) else "**missed**") if verdicts else ""
        lines.append(f"| {name} | " + " | ".join(cells) + f" | p95 <= {target:g} ms: {verdict} |")
    for b in backends:
        r = results["backends"][b]
        lines.append("")
        lines.append(f"{b}: filled in {r['fill_seconds']} s; every answer checked against the "
                     f"rows written: {len(r['errors'])} wrong.")  # fmt: skip
    live = results.get("live")
    if live:
        from bench.console_live import live_lines

        lines += ["", *live_lines(live, meta["command"])]
    return lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=100_000, help="call records to write")
    p.add_argument("--backends", default="sqlite,postgresql")
    p.add_argument("--repeat", type=int, default=40, help="timed requests per row")
    p.add_argument("--seed", type=int, default=14)
    p.add_argument("--browser", action="store_true", help="page loads in chromium too")
    p.add_argument(
        "--live",
        type=int,
        default=0,
        metavar="CALLS",
        help="live-turn delays over CALLS real SIP calls into serve (SQLite)",
    )
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "console")
    p.add_argument("--write", action="store_true", help="put the section into --benchmarks")
    p.add_argument("--benchmarks", type=Path, default=ROOT / "BENCHMARKS.md")
    p.add_argument("--serve", metavar="URL", help=argparse.SUPPRESS)  # the console process
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.data_dir)
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    backends = [b for b in args.backends.split(",") if b]
    results: dict[str, Any] = {"backends": {}}
    pg = None
    try:
        if "postgresql" in backends:
            from voicebot.testing.postgres import TemporaryPostgres

            pg = TemporaryPostgres().start()
        for backend in backends:
            print(f"{backend}: filling {args.calls} calls ...", flush=True)
            results["backends"][backend] = run_backend(backend, args, pg)
            for e in results["backends"][backend]["errors"][:20]:
                print(f"  WRONG {e}", flush=True)
            if backend == "sqlite" and args.live:
                from bench.console_live import live_turns

                print(f"live turns: {args.live} calls into serve ...", flush=True)
                database = args.out / "sqlite" / "voicebot.db"
                results["live"] = live_turns(database, args.live, args.out)
    finally:
        if pg is not None:
            pg.stop()
    meta = {
        "command": command_line(),
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}",  # fmt: skip
        "repeat": args.repeat,
        "load": f"{load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end",
    }
    results["meta"] = meta
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = report(results, meta)
    print("\n".join(lines))
    if args.write:
        write_section(HEADING, lines, args.benchmarks)
    wrong = sum(len(r["errors"]) for r in results["backends"].values())
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
