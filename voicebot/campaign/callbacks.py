"""Call-backs: a caller nobody could take is added to a callback campaign as an outbound contact.

A flow's `callback` step (docs/flow-format.md "Escalation and hand-off") asks the runtime for a
`ScheduleCallback(number, campaign, at, context)`; `CallbackBook.book` turns it into a contact
of that campaign in the campaign database (the ledger), or says why it cannot:

- the number is the caller's by default (`{{ call.caller }}`): a SIP URI's user part
  (`sip:+12125551234@pbx`, `"Ann" <sip:2125551234@pbx>`) or a plain number, read in
  `campaign.region` when it has no `+`, and checked against the outbound rules (`outbound.*`)
  as every campaign number is;
- the campaign must exist (`voicebot campaign create --name callbacks --flow ... --contacts
  FILE` with a header-only CSV makes an empty one) and not be cancelled; a finished one is
  running again once it has a contact to call;
- `at` (the time the caller chose) becomes the contact's `not_before`; the campaign's calling
  window and pacing still apply, as for any contact;
- the contact's fields (`contact.*` in the callback flow) are the call's context: the call id,
  its language, flow and frustration, and the step's `context:` map; `phone` is the number.
  A number already waiting in that campaign gets the new time and context (one contact per
  number, as at import); one already called is armed again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from voicebot.campaign import CampaignError
from voicebot.campaign.contacts import PHONE, normalise, zones_for
from voicebot.campaign.ledger import Ledger
from voicebot.dialog.actions import ScheduleCallback
from voicebot.dialog.events import CallbackResult
from voicebot.policy.numbers import NumberPolicy

_SIP_USER = re.compile(r"(?:sips?|tel):([^@;>\s]+)", re.I)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def number_of(caller: str) -> str:
    """The number in what a `callback` step was given: a SIP or tel URI's user part, or the
    text itself ('"Ann" <sip:+12125551234@pbx>' -> '+12125551234')."""
    found = _SIP_USER.search(caller)
    return (found.group(1) if found else caller).strip()


@dataclass
class CallbackBook:
    """Books call-backs in the campaign database at `path` (settings campaign.database)."""

    path: str | Path
    region: str = "US"
    numbers: NumberPolicy = NumberPolicy()

    def book(self, request: ScheduleCallback, now: datetime) -> CallbackResult:
        try:
            phone = normalise(number_of(request.number), self.region)
            refused = self.numbers.refusal(phone)
            if refused is not None:
                raise ValueError(refused)
            zones = zones_for(phone)
        except ValueError as exc:
            return CallbackResult(False, f"callback to {request.number!r}: {exc}")
        fields = {k: _CONTROL.sub(" ", v) for k, v in request.context.items()}
        fields[PHONE] = phone
        ledger = Ledger(self.path, self.region)
        try:
            contact = ledger.add_contact(request.campaign, phone, fields, zones, request.at, now)
        except CampaignError as exc:
            return CallbackResult(False, str(exc))
        finally:
            ledger.close()
        when = request.at.isoformat() if request.at else "as soon as the window allows"
        return CallbackResult(True, f"contact {contact} of {request.campaign}: {phone}, {when}")
