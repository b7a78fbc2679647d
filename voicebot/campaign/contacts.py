"""Contacts from a CSV file: one `phone` column, every other column becomes `contact.<name>`.

Rules of `read_contacts(path, region=...)`:

* The file is UTF-8 (a UTF-8 byte-order mark, as Excel writes it, is skipped). A UTF-16/32
  byte-order mark stops the import; a row with bytes that are not UTF-8 is rejected.
* The first non-blank line is the header. It must name a `phone` column; names are stripped
  of spaces, must not be empty and must not repeat.
* Numbers are normalised to E.164 with `phonenumbers`; numbers without `+` are read in the
  default `region`. Each row is accepted or rejected with one reason, reported as
  ``file.csv:LINE: reason`` (the line where the row starts; the header is line 1). Reasons:
  wrong field count, empty row, empty phone, invalid number, duplicate number (naming the line
  of the first), unknown time zone, no time zone for the number, not UTF-8, and an empty field
  the flow needs (`required`), a number the outbound policy refuses (premium-rate and special
  ranges, numbers outside `outbound.allow`: voicebot/policy/numbers.py), and a field holding a
  control character (CR, LF, NUL, TAB, any other C0 or C1 code, DEL, U+2028/9): contact fields
  reach templates and X- headers, where a line break could forge one. Blank lines are not rows.
  accepted + rejected == rows.
* A file larger than `max_bytes` (settings `limits.csv_bytes`) is refused before it is read.
* Time zone: a non-empty `timezone` column (an IANA name) wins; otherwise the zones
  `phonenumbers` gives for the number. When a number maps to several zones (a region spanning
  zones) every one is kept and pacing calls only when the window is open in *all* of them: the
  intersection is the narrowest window, stricter than any single zone we could pick. The first
  zone is the one whose calendar day the daily cap counts in.

`flow_fields(loaded)` lists the `contact.*` names a flow (and its subflows) reads, with where;
`check_columns(loaded, columns, file)` raises `ContactsError` naming the missing columns and
the flow file:line:column that uses each, before anything is dialed.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_timezone

from voicebot.campaign import ContactsError
from voicebot.errors import Location
from voicebot.flow.lint import lint
from voicebot.flow.loader import LoadedFlow
from voicebot.policy.numbers import NumberPolicy

PHONE, TIMEZONE = "phone", "timezone"
_BOMS = {
    b"\xff\xfe\x00\x00": "UTF-32",
    b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe": "UTF-16",
    b"\xfe\xff": "UTF-16",
}
_UTF8_BOM = b"\xef\xbb\xbf"
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
MAX_BYTES = 50_000_000
_REASONS = {
    phonenumbers.ValidationResult.TOO_SHORT: "too short",
    phonenumbers.ValidationResult.TOO_LONG: "too long",
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
    phonenumbers.ValidationResult.INVALID_LENGTH: "wrong length",
}


@dataclass(frozen=True)
class Contact:
    """An accepted row: its line, its E.164 number, all its columns and its time zones."""

    line: int
    phone: str
    fields: Mapping[str, str] = field(hash=False)  # every column; `phone` holds the E.164 form
    timezones: tuple[str, ...]


@dataclass(frozen=True)
class Rejected:
    """A row that was not imported, and why."""

    line: int
    raw: str  # the phone field as written (may be empty)
    reason: str


@dataclass(frozen=True)
class ImportResult:
    file: str
    columns: tuple[str, ...]
    accepted: tuple[Contact, ...]
    rejected: tuple[Rejected, ...]

    @property
    def rows(self) -> int:
        return len(self.accepted) + len(self.rejected)

    def messages(self) -> list[str]:
        """``file.csv:LINE: reason`` for every rejected row, in line order."""
        return [f"{self.file}:{r.line}: {r.reason}" for r in self.rejected]


def normalise(raw: str, region: str) -> str:
    """`raw` as E.164 ('+12125551234'); ValueError(reason) when it is not a valid number."""
    text = raw.strip()
    invalid = f"invalid phone number '{text}' for region {region}"
    try:
        number = phonenumbers.parse(text, None if text.startswith("+") else region)
    except phonenumbers.NumberParseException:
        raise ValueError(f"{invalid} (not a number)") from None
    why = phonenumbers.is_possible_number_with_reason(number)
    if why in _REASONS:
        raise ValueError(f"{invalid} ({_REASONS[why]})")
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"{invalid} (no such number)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def zones_for(e164: str, column: str = "") -> tuple[str, ...]:
    """The contact's time zones: the `timezone` column, else the number's (see module doc)."""
    if column.strip():
        name = column.strip()
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{name}' in column '{TIMEZONE}'") from None
        return (name,)
    number = phonenumbers.parse(e164)
    zones = tuple(z for z in phone_timezone.time_zones_for_number(number) if z != "Etc/Unknown")
    usable = tuple(z for z in zones if _known_zone(z))
    if not usable:
        raise ValueError(f"no time zone for {e164}: add a '{TIMEZONE}' column")
    return usable


def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def read_contacts(
    path: str | Path,
    *,
    region: str,
    required: Collection[str] = (),
    name: str | None = None,
    numbers: NumberPolicy | None = None,
    max_bytes: int = MAX_BYTES,
) -> ImportResult:
    """Import a contacts CSV (rules in the module docstring). `name` is the file as reported;
    `numbers` is the outbound policy (default: `NumberPolicy()`, special ranges refused)."""
    path = Path(path)
    shown = name or str(path)
    with path.open("rb") as f:
        data = f.read(max_bytes + 1)  # never more than the limit, whatever the file is
    if len(data) > max_bytes:
        raise ContactsError(
            f"{shown}: refused: larger than {max_bytes} bytes "
            "(split the file, or raise settings limits.csv_bytes)"
        )
    for bom, encoding in _BOMS.items():
        if data.startswith(bom):
            raise ContactsError(
                f"{shown}:1: {encoding} text (byte-order mark {bom.hex(' ').upper()}): "
                "save the file as UTF-8 (in Excel: CSV UTF-8)"
            )
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    reader = csv.reader(io.StringIO(data.decode("utf-8", "surrogateescape"), newline=""))
    return _Import(shown, region, set(required), numbers or NumberPolicy()).run(reader)


class _Import:
    def __init__(self, shown: str, region: str, required: set[str], numbers: NumberPolicy):
        self.shown, self.region, self.required = shown, region, required
        self.numbers = numbers
        self.accepted: list[Contact] = []
        self.rejected: list[Rejected] = []
        self.first_line: dict[str, int] = {}

    def run(self, reader: Any) -> ImportResult:  # a csv reader: rows and `line_num`
        columns: tuple[str, ...] | None = None
        end = 0
        try:
            for row in reader:
                line, end = end + 1, reader.line_num
                if not row:
                    continue  # a blank line is not a row
                if columns is None:
                    columns = self.header(row, line)
                else:
                    self.row(columns, row, line)
        except csv.Error as exc:
            raise ContactsError(f"{self.shown}:{end + 1}: not readable as CSV: {exc}") from None
        if columns is None:
            raise ContactsError(f"{self.shown}:1: empty file: the first line names the columns")
        return ImportResult(self.shown, columns, tuple(self.accepted), tuple(self.rejected))

    def header(self, row: list[str], line: int) -> tuple[str, ...]:
        where = f"{self.shown}:{line}"
        if any(_bad_bytes(cell) for cell in row):
            raise ContactsError(f"{where}: the header is not UTF-8: save the file as UTF-8")
        names = tuple(cell.strip() for cell in row)
        for i, name in enumerate(names, 1):
            if not name:
                raise ContactsError(f"{where}: column {i} has no name")
            if _CONTROL.search(name):
                raise ContactsError(f"{where}: column {i} has a control character in its name")
            if names.index(name) != i - 1:
                raise ContactsError(f"{where}: column '{name}' appears twice")
        if PHONE not in names:
            hint = ""
            close = difflib.get_close_matches(PHONE, [n.lower() for n in names], n=1)
            if len(names) == 1 and ";" in names[0]:
                hint = " (the file seems to use ';' between fields: save it with commas)"
            elif close:
                hint = f" (did you mean '{names[[n.lower() for n in names].index(close[0])]}'?)"
            raise ContactsError(f"{where}: no '{PHONE}' column{hint}")
        return names

    def row(self, columns: tuple[str, ...], row: list[str], line: int) -> None:
        values = dict(zip(columns, (cell.strip() for cell in row), strict=False))
        raw = values.get(PHONE, "")
        try:
            contact = self.contact(columns, row, values, line)
        except ValueError as exc:
            self.rejected.append(Rejected(line, raw, str(exc)))
            return
        self.first_line[contact.phone] = line
        self.accepted.append(contact)

    def contact(
        self, columns: tuple[str, ...], row: list[str], values: dict[str, str], line: int
    ) -> Contact:
        bad = [name for name, cell in zip(columns, row, strict=False) if _bad_bytes(cell)]
        if bad:
            byte = _bad_bytes(row[columns.index(bad[0])])
            raise ValueError(
                f"not UTF-8 (byte 0x{byte:02X} in column '{bad[0]}'): save the file as UTF-8"
            )
        if len(row) != len(columns):
            raise ValueError(
                f"expected {len(columns)} fields ({', '.join(columns)}), found {len(row)}"
            )
        for column, cell in values.items():  # stripped: a trailing CR or TAB is harmless
            found = _CONTROL.search(cell)
            if found:
                code = ord(found.group())
                raise ValueError(
                    f"control character U+{code:04X} in column '{column}': contact fields "
                    "are one line of text (fix the cell; a line break inside quotes counts)"
                )
        if not any(values.values()):
            raise ValueError("empty row")
        if not values[PHONE]:
            raise ValueError(f"empty {PHONE}")
        phone = normalise(values[PHONE], self.region)
        refused = self.numbers.refusal(phone)
        if refused is not None:
            raise ValueError(refused)
        if phone in self.first_line:
            raise ValueError(f"duplicate number {phone} (first on line {self.first_line[phone]})")
        zones = zones_for(phone, values.get(TIMEZONE, ""))
        empty = sorted(name for name in self.required if name in values and not values[name])
        if empty:
            uses = ", ".join(f"contact.{n}" for n in empty)
            names = ", ".join(f"'{n}'" for n in empty)
            raise ValueError(f"empty {names} (the flow uses {uses})")
        return Contact(line, phone, {**values, PHONE: phone}, zones)


def _bad_bytes(cell: str) -> int:
    """The first undecodable byte in a cell decoded with surrogateescape, else 0."""
    for ch in cell:
        if 0xDC80 <= ord(ch) <= 0xDCFF:
            return ord(ch) - 0xDC00
    return 0


def flow_fields(loaded: LoadedFlow) -> dict[str, list[Location]]:
    """Every `contact.<name>` the flow and its subflows read, with the places that read it."""
    found: dict[str, list[Location]] = {}
    for problem in lint(loaded, contact_fields=()):
        if problem.code == "undefined-contact":
            # the message starts with the quoted reference: "'contact.name': not a contact field"
            name = problem.message.split("'")[1].removeprefix("contact.")
            found.setdefault(name, []).append(problem.location)
    return found


def check_columns(loaded: LoadedFlow, columns: Collection[str], file: str) -> None:
    """Raise `ContactsError` when the flow reads `contact.x` and the file has no column x."""
    missing = {n: places for n, places in flow_fields(loaded).items() if n not in columns}
    if not missing:
        return
    lines = [
        f"{file}:1: the flow {loaded.path.name} needs columns the file does not have: "
        + ", ".join(sorted(missing))
    ]
    for name in sorted(missing):
        lines.append(f"  {missing[name][0]}: uses contact.{name}")
    raise ContactsError("\n".join(lines))
