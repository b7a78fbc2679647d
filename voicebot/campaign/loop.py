"""The campaign loop, sans-IO: pacing over the ledger; the seam a SIP dialer plugs into.

A dialer (`voicebot campaign run`, or under `voicebot serve`) does only this:

    ledger = Ledger(db)
    loop = CampaignLoop(ledger, "reminders", now=clock())   # reconciles a dead dialer's attempts
    while True:
        for decision in loop.step(clock()):     # each attempt is already committed `dialing`
            dialer.place(decision.attempt)      # send the INVITE; run the flow when answered
        # when a call ends (any thread/process that owns the ledger connection):
        #     loop.report(attempt_id, outcome_for_sip(status) or Outcome.MACHINE, clock(), ...)
        wait until loop.wake_at, or a call ends, or the campaign is resumed
        stop when loop.done

`step(now)` never sleeps and never dials: it returns `DialDecision`s. Before each decision it
checks the do-not-call list again (a listed number ends as `dnc`) and writes the attempt with
`Ledger.begin_attempt`, so the INVITE leaves only after the attempt is on disk. `report`
records the outcome through `Ledger.finish_attempt` and updates the pacer (503 back-pressure).
A paused or cancelled campaign yields no decisions; a running one with every contact done is
moved to `finished`. The pacer's token bucket starts from the ledger's last dial, so a restart
does not burst past the calls-per-second limit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from voicebot.campaign.ledger import Attempt, Campaign, Ledger
from voicebot.campaign.pacing import Outcome, Pacer, Policy, after_outcome, plan

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DialDecision:
    """Place this call now; its attempt is already committed in state `dialing`."""

    attempt: Attempt


class Dialer(Protocol):
    """What the SIP dialer implements: start the call and return at once. Its outcome comes
    back later through `CampaignLoop.report` (or `Ledger.finish_attempt`)."""

    def place(self, attempt: Attempt) -> None: ...


class CampaignLoop:
    def __init__(self, ledger: Ledger, name: str, *, now: datetime, reconcile: bool = True):
        self.ledger, self.name = ledger, name
        if reconcile:
            lost = ledger.reconcile(now, name)
            if lost:
                log.warning("campaign %s: %d attempt(s) reconciled as unknown", name, len(lost))
        campaign = ledger.campaign(name)
        self.policy: Policy = campaign.policy
        last = ledger.last_dial_at(campaign)
        self.pacer = Pacer(tokens=0.0, at=last) if last else Pacer()
        self.wake_at: datetime | None = None
        self.done = campaign.state in ("finished", "cancelled")

    def step(self, now: datetime) -> list[DialDecision]:
        """Who to dial now; sets `wake_at` (when to step again if no call ends before)."""
        campaign = self.ledger.campaign(self.name)
        self.pacer = replace(self.pacer, in_flight=self.ledger.in_flight(campaign))
        if campaign.state == "running" and self.ledger.finish_if_done(self.name, now):
            campaign = self.ledger.campaign(self.name)
        self.done = campaign.state in ("finished", "cancelled") and not self.pacer.in_flight
        if campaign.state != "running":
            self.wake_at = None
            return []
        return self._dial(campaign, now)

    def _dial(self, campaign: Campaign, now: datetime) -> list[DialDecision]:
        pending = self.ledger.pending(campaign, now)
        phones = {state.id: phone for state, phone in pending}
        decided = plan(self.policy, self.pacer, [s for s, _ in pending], now)
        for contact_id in decided.unreachable:
            self.ledger.close_contact(contact_id, "no_window")
        out: list[DialDecision] = []
        skipped = 0
        for contact_id in decided.dial:
            if phones[contact_id] in self.ledger.dnc:
                self.ledger.close_contact(contact_id, "dnc")
                skipped += 1
                continue
            out.append(DialDecision(self.ledger.begin_attempt(contact_id, now)))
        # a skipped dial spent neither a call slot nor a token
        self.pacer = replace(
            decided.pacer,
            in_flight=decided.pacer.in_flight - skipped,
            tokens=decided.pacer.tokens + skipped,
        )
        self.wake_at = now if skipped else decided.wake_at
        return out

    def report(
        self, attempt_id: int, outcome: Outcome | str, now: datetime, **details: Any
    ) -> str | None:
        """Record a call's outcome (details as `Ledger.finish_attempt`); returns the disposition
        once the contact is done."""
        outcome = Outcome(outcome)
        final = self.ledger.finish_attempt(attempt_id, outcome, now, **details)
        self.pacer = after_outcome(self.policy, self.pacer, outcome, now)
        return final
