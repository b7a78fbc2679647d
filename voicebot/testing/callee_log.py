"""A campaign run checked against the simulated callees' own log (`voicebot.testing.callees`).

The callees write one line per INVITE they received and per call end; the ledger says what the
dialer believes happened. `check(lines, ledger, name)` compares the two and returns `Evidence`:
figures (calls up at most, INVITEs per second, INVITEs outside the window, dispositions) and
`problems`, one sentence per broken rule:

* concurrency: the callees never had more than `max_concurrent` calls up (`up` of each INVITE,
  ringing calls included), and pjsua2 never refused an INVITE for want of a slot (`overflow`);
* calls per second: successive INVITEs at least `1 / cps` apart (burst 1), and never more than
  `ceil(cps) + burst - 1` in any 1 s, less `tolerance` for delivery jitter on loopback;
* window: every INVITE arrived inside the campaign's window in the contact's local time (the
  callees' clock, the contact's time zones from the ledger);
* dispositions: each contact ended as its number's behaviour says (`expected`, by default
  `APPOINTMENT_REMINDER`, with busy and no-answer retried until `max_attempts`, and an
  opt-out whose call a crash lost ending as `dnc`: it was listed while the call ran);
* nothing lost, nothing dialed beyond policy: every contact has a final disposition; each
  contact has at least as many ledger attempts as the callees saw INVITEs (each was written
  before it left); INVITEs that counted (all but those answered 503) never exceed the ledger's
  counted attempts nor `max_attempts`; an invalid number got one INVITE, and at most one more
  for each of its attempts a crash lost (closed `unknown`: its 404 never reached the ledger, or
  it was lost before its INVITE left);
* back-pressure: a 503 is in the ledger as an attempt that does not count;
* do-not-call: every callee who said "stop calling me" is on the list and got no INVITE after
  that call ended, unless no bot heard it: the callee said it after a crash had killed the call
  (it then hung up on the silence, `quiet`, and the ledger has an attempt of the number closed
  as `unknown`); those are counted in `unheard_opt_outs`.

Contacts listed in `not_dialed` (out of their window for the whole run) must have no INVITE.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from voicebot.campaign.ledger import Ledger
from voicebot.campaign.pacing import in_window
from voicebot.campaign.results import results
from voicebot.testing.callees import behaviour_for

APPOINTMENT_REMINDER: Mapping[str, str | tuple[str, ...]] = {
    "human": "confirmed",
    "machine": "machine_message",
    "busy": "max_attempts",
    "no_answer": "max_attempts",
    "congested": "confirmed",
    "invalid": "invalid",
    "opt_out": ("opt_out", "dnc"),  # dnc: listed during a call a crash then lost
}
FINAL_NOT = ("pending", "in_flight")


@dataclass
class Evidence:
    """What the callees' log and the ledger show about one campaign run."""

    invites: int = 0
    answered: int = 0
    max_up: int = 0
    overflow: int = 0
    min_gap: float | None = None  # seconds between successive INVITEs
    max_per_second: int = 0  # most INVITEs in any [t, t + 1 s)
    outside_window: int = 0
    contacts: int = 0
    dispositions: dict[str, int] = field(default_factory=dict)
    wrong_disposition: int = 0
    max_counted_invites: int = 0  # per number
    ledger_attempts: int = 0
    uncounted_503: int = 0
    unknown_attempts: int = 0  # reconciled after a crash
    redialed_after_unknown: int = 0  # contacts dialed again after an attempt lost in a crash
    unheard_opt_outs: int = 0  # "stop calling me" said into a call a crash had killed
    problems: list[str] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "problems"}


def invite_lines(lines: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted((x for x in lines if x.get("event") == "invite"), key=lambda x: x["t"])


def rate_figures(times: list[float], tolerance: float) -> tuple[float | None, int]:
    """The smallest gap between successive times and the most times in any [t, t + 1 s)."""
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    most = 0
    j = 0
    for i, start in enumerate(times):
        j = max(j, i)
        while j + 1 < len(times) and times[j + 1] < start + 1.0 - tolerance:
            j += 1
        most = max(most, j - i + 1)
    return (min(gaps) if gaps else None), most


def check(
    lines: list[Mapping[str, Any]],
    ledger: Ledger,
    name: str,
    *,
    expected: Mapping[str, str | tuple[str, ...]] = APPOINTMENT_REMINDER,
    not_dialed: Iterable[str] = (),
    tolerance: float = 0.1,
) -> Evidence:
    """Compare the callees' log with campaign `name`'s ledger (rules in the module docstring)."""
    campaign = ledger.campaign(name)
    settings, policy = campaign.settings, campaign.policy
    ev = Evidence()
    problems = ev.problems
    invites = invite_lines(lines)
    ends = {x["call_id"]: x for x in lines if x.get("event") == "hangup"}
    ev.invites = len(invites)
    ev.answered = sum(1 for x in ends.values() if x.get("answered"))
    ev.max_up = max((x["up"] for x in invites), default=0)
    ev.overflow = sum(1 for x in lines if x.get("event") == "overflow")
    if ev.max_up > settings.max_concurrent or ev.overflow:
        problems.append(
            f"{ev.max_up} calls up at once (limit {settings.max_concurrent}), "
            f"{ev.overflow} INVITE(s) refused for want of a call slot"
        )
    times = [x["t"] for x in invites]
    ev.min_gap, ev.max_per_second = rate_figures(times, tolerance)
    allowed = math.ceil(settings.cps) + settings.burst - 1
    if ev.max_per_second > allowed:
        problems.append(f"{ev.max_per_second} INVITEs within 1 s (cps {settings.cps})")
    if settings.burst == 1 and ev.min_gap is not None and ev.min_gap < 1 / settings.cps - tolerance:
        problems.append(f"INVITEs {ev.min_gap:.3f} s apart (cps {settings.cps})")

    contacts = {
        r["phone"]: r
        for r in ledger.db.execute("SELECT * FROM contacts WHERE campaign_id = ?", (campaign.id,))
    }
    by_number: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for x in invites:
        by_number[x["number"]].append(x)
        row = contacts.get(x["number"])
        if row is None:
            problems.append(f"INVITE to {x['number']}, not a contact of {name}")
            continue
        at = datetime.fromtimestamp(x["t"], UTC)
        if not in_window(policy, tuple(row["timezones"].split()), at):
            ev.outside_window += 1
            problems.append(f"{x['number']} called at {at:%H:%M:%S} UTC, outside its window")
    for number in not_dialed:
        if by_number.get(number):
            problems.append(f"{number} was called although its window never opened")

    attempts: dict[int, list[Any]] = defaultdict(list)
    for a in ledger.attempts(campaign):
        attempts[a["contact_id"]].append(a)
    ev.ledger_attempts = sum(len(v) for v in attempts.values())
    rows = [r for r in results(ledger, campaign) if r.disposition != "rejected"]
    ev.contacts = len(rows)
    ev.dispositions = dict(sorted(Counter(r.disposition for r in rows).items()))
    dnc = {e.number for e in ledger.dnc.entries()}
    skip = set(not_dialed)
    for r in rows:
        number = r.phone
        behaviour = behaviour_for(number)
        calls = by_number.get(number, [])
        tried = attempts.get(contacts[number]["id"], [])
        counted = [x for x in calls if ends.get(x["call_id"], {}).get("status") != 503]
        ev.max_counted_invites = max(ev.max_counted_invites, len(counted))
        ledger_counted = sum(a["counts"] for a in tried)
        ev.uncounted_503 += sum(1 for a in tried if a["sip_status"] == 503 and not a["counts"])
        unknown = [a for a in tried if a["outcome"] == "unknown"]
        ev.unknown_attempts += len(unknown)
        ev.redialed_after_unknown += bool(unknown and tried[-1]["outcome"] != "unknown")
        where = f"{number} ({behaviour})"
        if r.disposition in FINAL_NOT:
            problems.append(f"{where} lost: still {r.disposition}")
        want = ("cancelled",) if number in skip else expected.get(behaviour, ())
        want = (want,) if isinstance(want, str) else want
        if want and r.disposition not in want:
            ev.wrong_disposition += 1
            problems.append(f"{where}: {r.disposition}, expected {' or '.join(want)}")
        if len(tried) < len(calls):
            problems.append(f"{where}: {len(calls)} INVITEs but {len(tried)} ledger attempts")
        if len(counted) > min(ledger_counted, policy.max_attempts):
            problems.append(
                f"{where}: {len(counted)} counted INVITEs, {ledger_counted} counted attempts, "
                f"at most {policy.max_attempts} allowed"
            )
        if (
            behaviour == "invalid"
            and not 1 <= len(calls) <= 1 + len(unknown)
            and number not in skip
        ):
            problems.append(f"{where}: {len(calls)} INVITEs, an invalid number gets one")
        for a in tried:
            if a["sip_status"] == 503 and a["counts"]:
                problems.append(f"{where}: a 503 counted as an attempt")
        if behaviour == "opt_out" and r.disposition in ("opt_out", "dnc"):
            if number not in dnc:
                problems.append(f"{where}: opted out but not on the do-not-call list")
            said = [ends[x["call_id"]] for x in calls if x["call_id"] in ends]
            said = [e for e in said if any("stop" in d for d in e.get("did", []))]
            unheard = [e for e in said if unknown and "quiet" in e.get("did", [])]
            ev.unheard_opt_outs += len(unheard)
            said = [e for e in said if e not in unheard]
            if said and any(x["t"] > said[0]["t"] for x in calls):
                problems.append(f"{where}: called again after saying 'stop calling me'")
    return ev
