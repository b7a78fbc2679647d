"""CSV import: every malformed row reported as file:LINE: reason; nothing silently dropped."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicebot.campaign import ContactsError
from voicebot.campaign.contacts import (
    check_columns,
    flow_fields,
    normalise,
    read_contacts,
    zones_for,
)
from voicebot.flow.loader import load_flow

FLOWS = Path(__file__).resolve().parents[2] / "dialog_flows"


def write(tmp_path: Path, text: str | bytes, name: str = "c.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_every_kind_of_bad_row_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "phone,name,timezone\n"
        "(212) 555-0100,Ann,\n"  # 2 ok
        "\n"  # 3 blank: not a row
        "212-555-0101,,\n"  # 4 empty name the flow needs
        "12,Bob,\n"  # 5 too short
        "+1 212 555 0100,Dup,\n"  # 6 duplicate of line 2
        "415 555 0102,Cy,,extra\n"  # 7 too many fields
        ",Dee,\n"  # 8 empty phone
        ",,\n"  # 9 empty row
        "+1 555 555 0199,Eve,\n"  # 10 no such number
        "646 555 0103,Fay,Mars/Olympus\n"  # 11 unknown zone
        'abc,"multi\nline",\n'  # 12-13: a quoted field spans two lines
        "718 555 0104,Gus,Europe/Paris\n",  # 14 ok, explicit zone
    )
    result = read_contacts(path, region="US", required={"name"}, name="c.csv")
    assert result.messages() == [
        "c.csv:4: empty 'name' (the flow uses contact.name)",
        "c.csv:5: invalid phone number '12' for region US (too short)",
        "c.csv:6: duplicate number +12125550100 (first on line 2)",
        "c.csv:7: expected 3 fields (phone, name, timezone), found 4",
        "c.csv:8: empty phone",
        "c.csv:9: empty row",
        "c.csv:10: invalid phone number '+1 555 555 0199' for region US (no such number)",
        "c.csv:11: unknown time zone 'Mars/Olympus' in column 'timezone'",
        "c.csv:12: control character U+000A in column 'name': contact fields are one line of "
        "text (fix the cell; a line break inside quotes counts)",
    ]
    assert [(c.line, c.phone, c.timezones) for c in result.accepted] == [
        (2, "+12125550100", ("America/New_York",)),
        (14, "+17185550104", ("Europe/Paris",)),
    ]
    assert result.accepted[0].fields == {"phone": "+12125550100", "name": "Ann", "timezone": ""}
    assert result.rows == 11 == len(result.accepted) + len(result.rejected)
    assert result.rejected[1].raw == "12"


def test_a_duplicate_of_a_rejected_row_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, "phone,name\n2125550100,\n2125550100,Ann\n")
    result = read_contacts(path, region="US", required={"name"}, name="c.csv")
    assert result.messages() == ["c.csv:2: empty 'name' (the flow uses contact.name)"]
    assert [c.line for c in result.accepted] == [3]


def test_utf8_bom_is_skipped_and_bad_bytes_reject_only_their_row(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbfphone,name\n2125550100,Ann\n2125550101,Jos\xe9\n2125550102,Zo\xc3\xab\n"
    result = read_contacts(write(tmp_path, data), region="US", name="c.csv")
    assert result.columns == ("phone", "name")
    assert result.messages() == [
        "c.csv:3: not UTF-8 (byte 0xE9 in column 'name'): save the file as UTF-8"
    ]
    assert [c.fields["name"] for c in result.accepted] == ["Ann", "Zoë"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            "phone,name\n".encode("utf-16"),
            "c.csv:1: UTF-16 text (byte-order mark FF FE): save the file as UTF-8 "
            "(in Excel: CSV UTF-8)",
        ),
        (b"number,name\n2125550100,Ann\n", "c.csv:1: no 'phone' column"),
        (b"Phone,name\n2125550100,Ann\n", "c.csv:1: no 'phone' column (did you mean 'Phone'?)"),
        (
            b"phone;name\n2125550100;Ann\n",
            "c.csv:1: no 'phone' column (the file seems to use ';' between fields: save it "
            "with commas)",
        ),
        (b"\n\nphone,name,name\n", "c.csv:3: column 'name' appears twice"),
        (b"phone,,name\n", "c.csv:1: column 2 has no name"),
        (b"", "c.csv:1: empty file: the first line names the columns"),
        (b"ph\xffone,name\n", "c.csv:1: the header is not UTF-8: save the file as UTF-8"),
    ],
    ids=["utf16", "no-phone", "case", "semicolons", "twice", "unnamed", "empty", "header-bytes"],
)
def test_files_that_cannot_be_imported(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(ContactsError) as err:
        read_contacts(write(tmp_path, data), region="US", name="c.csv")
    assert str(err.value) == message


def test_numbers_normalise_to_e164() -> None:
    assert normalise("(212) 555-0100", "US") == "+12125550100"
    assert normalise("+44 20 7946 0018", "US") == "+442079460018"
    assert normalise("020 7946 0018", "GB") == "+442079460018"
    with pytest.raises(ValueError, match=r"'\+999 1' for region US \(not a number\)"):
        normalise("+999 1", "US")


def test_time_zones_from_column_number_and_many_zone_regions() -> None:
    assert zones_for("+14155550100") == ("America/Los_Angeles",)
    assert zones_for("+14155550100", " Asia/Tokyo ") == ("Asia/Tokyo",)
    russia = zones_for("+79161234567")
    assert len(russia) > 5 and "Europe/Moscow" in russia  # all kept: pacing intersects them
    with pytest.raises(ValueError, match="no time zone for \\+80012345678"):
        zones_for("+80012345678")


def test_flow_columns_are_checked_before_anything_is_dialed(tmp_path: Path) -> None:
    loaded = load_flow(FLOWS / "payment_reminder.yaml")
    fields = flow_fields(loaded)
    assert sorted(fields) == ["amount_due", "due_date", "name", "phone"]
    assert str(fields["name"][0]).endswith("payment_reminder.yaml:24:15")
    check_columns(loaded, ["phone", "name", "amount_due", "due_date"], "c.csv")
    with pytest.raises(ContactsError) as err:
        check_columns(loaded, ["phone", "name"], "c.csv")
    lines = str(err.value).splitlines()
    assert lines[0] == (
        "c.csv:1: the flow payment_reminder.yaml needs columns the file does not have: "
        "amount_due, due_date"
    )
    assert lines[1].endswith("payment_reminder.yaml:30:10: uses contact.amount_due")
    assert lines[2].endswith("payment_reminder.yaml:30:10: uses contact.due_date")
