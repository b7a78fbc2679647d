"""Which transfer targets the bot may send a call to: the transfer allow-list.

A target written literally in a flow (`to: sip:billing@pbx.example.com`), or built only from
`env.*` (the operator's configuration), is the flow designer's and the operator's choice and is
used as it is. A target built from anything the call supplies — `slots`, `turn`, `vars` (set from
slots or HTTP replies), `call` (the caller's From/To), `contact` — is checked once rendered:

1. it must be one plain SIP or tel URI (no spaces, second `@`, angle brackets, headers or
   control characters that could smuggle another destination);
2. it must be a literal target of the loaded flows, or match one of the `transfers.allow`
   patterns (shell-style: `sip:*@pbx.example.com`, `sip:2???@pbx.example.com`);
3. when its user part is a phone number, that number must pass the outbound number policy
   (premium-rate and special ranges refused), whatever pattern it matched.

`TransferPolicy.refusal(template, rendered)` says why a target is refused, or None. The engine
takes the transfer step's `failed` route on a refusal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from jinja2 import TemplateSyntaxError, meta

from voicebot.flow import templates
from voicebot.flow.schema import Flow
from voicebot.policy.numbers import NumberPolicy

TRUSTED = frozenset({"env"})  # template names whose values the operator, not the call, sets
_URI = re.compile(
    r"^(?P<scheme>sips?):"
    r"(?:(?P<user>[A-Za-z0-9\-_.!~*'()&=+$,%]+)@)?"
    r"(?P<host>[A-Za-z0-9\-.]+|\[[0-9A-Fa-f:.]+\])"
    r"(?::(?P<port>[0-9]{1,5}))?"
    r"(?P<params>(?:;[A-Za-z0-9\-_.!~*'%]+(?:=[A-Za-z0-9\-_.!~*'%]+)?)*)$"
)


_TEL = re.compile(r"^tel:(?P<number>\+?[0-9\-.()]+)(?:;[A-Za-z0-9\-_.!~*'%=+]+)*$")


def inputs(template: str) -> frozenset[str]:
    """The top-level names (`slots`, `env`, ...) a template reads."""
    if not templates.is_template(template):
        return frozenset()
    try:
        return frozenset(meta.find_undeclared_variables(templates.ENV.parse(template)))
    except TemplateSyntaxError:
        return frozenset({"?"})


def from_call_data(template: str) -> bool:
    """Whether a target template is built from what the call supplies (see module doc)."""
    return bool(inputs(template) - TRUSTED)


def user_part(uri: str) -> str | None:
    """The user part of a plain SIP URI ('' when it has none), the number of a tel URI, or
    None when `uri` is not one plain URI."""
    tel = _TEL.match(uri)
    if tel is not None:
        return re.sub(r"[\-.()]", "", tel.group("number"))
    m = _URI.match(uri)
    return None if m is None else (m.group("user") or "")


@dataclass(frozen=True)
class TransferPolicy:
    allow: tuple[str, ...] = ()  # patterns from settings transfers.allow
    literal: frozenset[str] = frozenset()  # targets written as they are in the loaded flows
    numbers: NumberPolicy = field(default_factory=NumberPolicy)
    region: str = "US"  # of numbers written without +

    @classmethod
    def for_flows(
        cls,
        flows: Iterable[Flow],
        allow: Iterable[str] = (),
        numbers: NumberPolicy | None = None,
        region: str = "US",
    ) -> TransferPolicy:
        """The policy for a flow and its subflows: their literal targets, plus `allow`."""
        targets = (s.transfer.to for f in flows for s in f.steps.values() if s.transfer)
        literal = frozenset(t for t in targets if not templates.is_template(t))
        return cls(tuple(allow), literal, numbers or NumberPolicy(), region)

    def refusal(self, template: str, rendered: str) -> str | None:
        """Why the rendered target of `template` is refused, or None when it may be used."""
        if not from_call_data(template):
            return None
        user = user_part(rendered)
        if user is None:
            return "not a plain SIP URI"
        if rendered not in self.literal and not any(fnmatchcase(rendered, p) for p in self.allow):
            return "neither a target written in the flow nor matching settings transfers.allow"
        number = self.numbers.number_in(user, self.region)
        if number is not None:
            return self.numbers.refusal(number)
        return None
