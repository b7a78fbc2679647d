"""Which numbers the service may dial: the outbound allow-list.

    policy = NumberPolicy(allow=("+1", "GB"), refuse=DEFAULT_REFUSED)
    policy.refusal("+19005551234")   # -> "premium-rate number +19005551234 refused ..."
    policy.refusal("+12125551234")   # -> None: may be dialed

`allow` holds E.164 prefixes ("+1", "+4420") and region codes ("US", "GB"); empty allows every
country. `refuse` holds `phonenumbers` number types (premium_rate, shared_cost, uan,
personal_number, voicemail, pager, ...), refused wherever the prefix is: by default the ranges
that cost the caller money or reach no person. The same policy checks campaign imports, every
number the dialer is about to call, and transfer targets whose user part is a phone number.
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType

TYPES: dict[str, int] = {
    name.lower(): getattr(PhoneNumberType, name)
    for name in dir(PhoneNumberType)
    if name.isupper() and isinstance(getattr(PhoneNumberType, name), int)
}
DEFAULT_REFUSED = (
    "premium_rate",
    "shared_cost",
    "uan",
    "personal_number",
    "voicemail",
    "pager",
)
_SAID = {
    "premium_rate": "premium-rate",
    "shared_cost": "shared-cost",
    "uan": "universal access (UAN)",
    "personal_number": "personal (follow-me)",
    "voicemail": "voicemail access",
    "pager": "pager",
    "toll_free": "toll-free",
    "voip": "VoIP",
}


def check_allow(items: list[str]) -> list[str]:
    """Validate `outbound.allow` entries: '+<digits>' prefixes or region codes."""
    out = []
    for item in items:
        text = item.strip()
        if text.startswith("+") and text[1:].isdigit():
            out.append(text)
        elif text.upper() in phonenumbers.SUPPORTED_REGIONS:
            out.append(text.upper())
        else:
            raise ValueError(f"'{item}' is neither an E.164 prefix (+1, +4420) nor a region (US)")
    return out


def check_types(items: list[str]) -> list[str]:
    """Validate `outbound.refuse` entries: phonenumbers number types, lower case."""
    out = []
    for item in items:
        name = item.strip().lower()
        if name not in TYPES:
            raise ValueError(f"'{item}' is not a number type ({', '.join(sorted(TYPES))})")
        out.append(name)
    return out


@dataclass(frozen=True)
class NumberPolicy:
    allow: tuple[str, ...] = ()
    refuse: tuple[str, ...] = DEFAULT_REFUSED

    def refusal(self, e164: str) -> str | None:
        """Why `e164` may not be dialed, or None. Numbers that do not parse are refused."""
        try:
            number = phonenumbers.parse(e164, None)
        except phonenumbers.NumberParseException:
            return f"'{e164}' is not an E.164 number"
        kind = phonenumbers.number_type(number)
        for name in self.refuse:
            if TYPES[name] == kind:
                return (
                    f"{_SAID.get(name, name)} number {e164} refused "
                    f"(settings outbound.refuse has {name})"
                )
        if self.allow:
            region = phonenumbers.region_code_for_number(number) or ""
            inside = (e164.startswith(a) if a.startswith("+") else a == region for a in self.allow)
            if not any(inside):
                return f"{e164} is outside outbound.allow ({', '.join(self.allow)})"
        return None

    def number_in(self, user: str, region: str) -> str | None:
        """The E.164 form of a SIP user part that is a valid phone number, else None."""
        digits = user.removeprefix("+")
        if not digits.isdigit() or len(digits) < 7:
            return None  # an extension or a name: not a number this policy judges
        try:
            number = phonenumbers.parse(user, None if user.startswith("+") else region)
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_valid_number(number):
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
