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

`step(now)` never sleeps and never dials: it returns `DialDecision`s. In one transaction it
locks the campaign (`Ledger.lock`: the in-flight count of every dialer, the shared token
bucket; a loop given a `clock` dates its grants when the lock is held, and each decision carries
that time as `at`, so a wait for another dialer's lock neither backdates the bucket nor eats the
INVITE's turn),
reads only the contacts that are due (twice the free call slots, at least 32), plans them
(`pacing.plan`), moves the ones not yet callable to their next opening, checks the
do-not-call list again (a listed number ends as `dnc`) and writes each attempt with
`Ledger.begin_attempt` under the loop's lease, so the INVITE leaves only after the attempt is
on disk and no other dialer can claim the contact. `wake_at` is when the next contact is due
or the next token comes (None: when a call ends). `report`
records the outcome through `Ledger.finish_attempt` and updates the pacer (503 back-pressure).
A paused or cancelled campaign yields no decisions; a running one with every contact done is
moved to `finished`. The pacer's token bucket starts from the ledger's last dial, so a restart
does not burst past the calls-per-second limit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from voicebot.campaign.lease import Lease
from voicebot.campaign.ledger import Attempt, Campaign, Ledger
from voicebot.campaign.pacing import Outcome, Pacer, Policy, after_outcome, plan

log = logging.getLogger(__name__)
_READ_AHEAD = 32  # due contacts read per step at least: new ones are moved to their window


@dataclass(frozen=True)
class DialDecision:
    """Place this call now; its attempt is already committed in state `dialing` (under
    `lease`)."""

    attempt: Attempt
    lease: Lease | None = None
    at: datetime | None = None  # when the token was granted (the campaign lock held)


class Dialer(Protocol):
    """What the SIP dialer implements: start the call and return at once. Its outcome comes
    back later through `CampaignLoop.report` (or `Ledger.finish_attempt`)."""

    def place(self, attempt: Attempt) -> None: ...


class CampaignLoop:
    def __init__(
        self,
        ledger: Ledger,
        name: str,
        *,
        now: datetime,
        reconcile: bool = True,
        lease: Lease | None = None,
        clock: Callable[[], datetime] | None = None,
    ):
        self.ledger, self.name, self.lease, self.clock = ledger, name, lease, clock
        if reconcile:
            lost = ledger.reconcile(now, name)
            if lost:
                log.warning("campaign %s: %d attempt(s) reconciled as unknown", name, len(lost))
        campaign = ledger.campaign(name)
        self.policy: Policy = campaign.policy
        last = ledger.last_dial_at(campaign)
        self.pacer = Pacer(tokens=0.0, at=last) if last else Pacer()
        self.wake_at: datetime | None = None
        self._sent: datetime | None = None  # when the latest INVITE left, not yet counted
        self.done = campaign.state in ("finished", "cancelled")

    def step(self, now: datetime, seats: Sequence[Lease] | None = None) -> list[DialDecision]:
        """Who to dial now; sets `wake_at` (when to step again if no call ends before).

        `seats` (the worker pool, `pool.py`): one lease per free call slot, in the order they
        are to be filled; the calls placed are bounded by them as well as by `max_concurrent`,
        and decision i is written under `seats[i]`. Without: every one under the loop's lease."""
        with self.ledger.db.transaction():  # one change: its reads, its claims, its attempts
            campaign = self.ledger.campaign(self.name)
            if campaign.state == "running" and self.ledger.finish_if_done(campaign, now):
                campaign = self.ledger.campaign(self.name)
            if campaign.state != "running":
                self.pacer = replace(self.pacer, in_flight=self.ledger.in_flight(campaign))
                self.done = campaign.state in ("finished", "cancelled") and not self.pacer.in_flight
                self.wake_at = None
                return []
            self.done = False
            return self._claim(campaign, now, seats)

    def _claim(
        self, campaign: Campaign, now: datetime, seats: Sequence[Lease] | None
    ) -> list[DialDecision]:
        shared = self.ledger.lock(campaign)  # the bucket and the calls up, of every dialer
        if self.clock is not None:  # the grant is dated once the lock is held, not before the
            now = max(now, self.clock())  # wait for it: the next dialer's bucket counts from it
        lost, frees_at = self.ledger.lost_lately(campaign, now)  # their slots held a while yet
        flying = shared.in_flight + lost
        policy = self.policy
        if seats is not None:  # no more calls up than the slots free now
            policy = replace(policy, max_concurrent=min(policy.max_concurrent, flying + len(seats)))
        room = max(0, policy.max_concurrent - flying)
        due = self.ledger.due(campaign, now, max(2 * room, _READ_AHEAD) if room else 0)
        own = self.pacer  # this dialer's back-pressure; the bucket and in-flight are shared
        pacer = replace(
            shared, in_flight=flying, congestion=own.congestion, hold_until=own.hold_until
        )
        if self._sent is not None:  # the last INVITE left late: the next keeps its distance
            pacer, self._sent = pacer.sent(policy, self._sent), None
        states = [s for s, _ in due]
        phones = {state.id: phone for state, phone in due}
        decided = plan(policy, pacer, states, now)
        for contact_id in decided.unreachable:
            self.ledger.close_contact(contact_id, "no_window")
        for contact_id, at in decided.deferred:
            self.ledger.defer(contact_id, at)
        listed = self.ledger.dnc.listed(phones[c] for c in decided.dial)
        dials = []
        for contact_id in decided.dial:
            if phones[contact_id] in listed:
                self.ledger.close_contact(contact_id, "dnc")
            else:
                dials.append(contact_id)
        skipped = len(decided.dial) - len(dials)
        leases = seats[: len(dials)] if seats is not None else [self.lease] * len(dials)
        attempts = self.ledger.begin_attempts(list(zip(dials, leases, strict=True)), now)
        out = [DialDecision(a, lease, now) for a, lease in zip(attempts, leases, strict=True)]
        # a skipped dial spent neither a call slot nor a token
        self.pacer = replace(
            decided.pacer,
            in_flight=decided.pacer.in_flight - skipped,
            tokens=decided.pacer.tokens + skipped,
        )
        self.ledger.save_bucket(campaign, self.pacer)
        if skipped:
            self.wake_at = now
        elif room == 0 or decided.ready > len(decided.dial):  # a free slot, a token or a hold
            self.wake_at = decided.wake_at
        else:
            nxt = self.ledger.next_due(campaign)
            self.wake_at = min(
                (t for t in (decided.wake_at, nxt and max(nxt, now)) if t is not None),
                default=None,
            )
        if frees_at is not None and (self.wake_at is None or frees_at < self.wake_at):
            self.wake_at = frees_at  # a lost call's slot comes free: no report will say so
        return out

    def sent(self, at: datetime) -> None:
        """An attempt's INVITE left at `at`: the next step counts the bucket from then."""
        self._sent = at if self._sent is None else max(self._sent, at)

    def report(
        self,
        attempt_id: int,
        outcome: Outcome | str,
        now: datetime,
        *,
        late: bool = False,
        **details: Any,
    ) -> str | None:
        """Record a call's outcome (details as `Ledger.finish_attempt`; `late` as
        `pacing.after_outcome`); returns the disposition once the contact is done."""
        outcome = Outcome(outcome)
        final = self.ledger.finish_attempt(attempt_id, outcome, now, **details)
        self.pacer = after_outcome(self.policy, self.pacer, outcome, now, late=late)
        return final
