"""Outbound campaigns: from a CSV of contacts to paced calls, with nothing lost.

    contacts.py   CSV import (E.164 numbers, time zones, located rejections) and flow columns
    dnc.py        the do-not-call list, applied at import and before each dial
    pacing.py     sans-IO pacing: who to dial at `now`, retries by outcome, next wake-up
    ledger.py     campaigns, contacts and attempts in SQLite; crash reconciliation
    loop.py       `CampaignLoop.step(now)` and the `Dialer` protocol a SIP dialer implements
    results.py    dispositions per contact, CSV/JSON export, `status` with rich
    cli.py        `voicebot campaign create|start|pause|resume|cancel|status|export|dnc`

Errors (under `voicebot.errors.VoicebotError`):

    CampaignError           a campaign cannot be created or changed (unknown name, bad state)
    └── ContactsError       the contacts file as a whole cannot be used (no `phone` column,
                            UTF-16 text, columns the flow needs are missing)
"""

from __future__ import annotations

from voicebot.errors import CampaignError, ContactsError

__all__ = ["CampaignError", "ContactsError"]
