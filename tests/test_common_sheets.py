"""Shared sheet access over the stand-ins: Google Sheets through GSheetsHook, CSV in S3."""

from __future__ import annotations

import threading

import pytest

from include.common.sheets import SheetError, SheetLocation, read_rows, update_cells


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "https://docs.google.com/spreadsheets/d/1cr_rXVh0eZZ4aLtFKb5dw8jfBtksRezhY1X5ys6FckI/edit#gid=1690818184",
            SheetLocation(
                kind="gsheet", spreadsheet_id="1cr_rXVh0eZZ4aLtFKb5dw8jfBtksRezhY1X5ys6FckI", gid=1690818184
            ),
        ),
        (  # the seed's own link form
            "https://docs.google.com/google_spreadsheets/d/1cr_rXVh0eZZ4aLtFKb5dw8jfBtksRezhY1X5ys6FckI/edit#gid=1690818184",
            SheetLocation(
                kind="gsheet", spreadsheet_id="1cr_rXVh0eZZ4aLtFKb5dw8jfBtksRezhY1X5ys6FckI", gid=1690818184
            ),
        ),
        (
            "https://docs.google.com/spreadsheets/u/1/d/1cr_rXVh0eZZ4aLtFKb5dw8j/edit?gid=42#gid=42",
            SheetLocation(kind="gsheet", spreadsheet_id="1cr_rXVh0eZZ4aLtFKb5dw8j", gid=42),
        ),
        (
            "https://docs.google.com/spreadsheets/d/1cr_rXVh0eZZ4aLtFKb5dw8j/edit",
            SheetLocation(kind="gsheet", spreadsheet_id="1cr_rXVh0eZZ4aLtFKb5dw8j"),
        ),
        (
            "1cr_rXVh0eZZ4aLtFKb5dw8jfBtk",
            SheetLocation(kind="gsheet", spreadsheet_id="1cr_rXVh0eZZ4aLtFKb5dw8jfBtk"),
        ),
        (
            "s3://media.angel-nft.com/sheets/S01E01.csv",
            SheetLocation(kind="s3", bucket="media.angel-nft.com", key="sheets/S01E01.csv"),
        ),
    ],
)
def test_parse_location(text, expected):
    assert SheetLocation.parse(text) == expected


def test_tab_name_wins_over_gid():
    location = SheetLocation.parse(
        "https://docs.google.com/spreadsheets/d/abcdefghijkl/edit#gid=7", tab="Frames"
    )
    assert (location.tab, location.gid) == ("Frames", None)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "s3://bucket-only",
        "https://example.com/sheet",
        "short",
        "https://docs.google.com/document/x",
    ],
)
def test_parse_location_rejects(text):
    with pytest.raises(ValueError, match="sheet location"):
        SheetLocation.parse(text)


def test_google_sheet_read_and_raw_write(stack, unique_name):
    url = stack.google.put_sheet(
        f"{unique_name}sheet",
        [["UUID", "Title", "Status", "Extra"], ["u1", "First", "", "keep"], ["u2", "Second"]],
        tab="Talks",
    )
    location = SheetLocation.parse(url, tab="Talks")

    rows = read_rows(location)
    assert rows == [
        ["UUID", "Title", "Status", "Extra"],
        ["u1", "First", "", "keep"],
        ["u2", "Second", "", ""],
    ]

    update_cells(location, [(3, "status", "published"), (2, "STATUS", "=HYPERLINK(1)")])

    assert stack.google.get_sheet(f"{unique_name}sheet", "Talks") == [
        ["UUID", "Title", "Status", "Extra"],
        ["u1", "First", "=HYPERLINK(1)", "keep"],
        ["u2", "Second", "published"],
    ]
    writes = [r for r in stack.google.sheet_requests if r["path"] == "values:batchUpdate"]
    assert writes[-1]["body"]["valueInputOption"] == "RAW"


def test_unknown_column_is_a_clear_error(stack, unique_name):
    url = stack.google.put_sheet(f"{unique_name}sheet", [["UUID"], ["u1"]])
    with pytest.raises(SheetError, match="no column 'LINK'"):
        update_cells(SheetLocation.parse(url), [(2, "LINK", "x")])


def test_s3_csv_parallel_writers_keep_every_update(stack, s3, unique_name):
    bucket = f"{unique_name}-sheets"
    s3.create_bucket(Bucket=bucket)
    rows = [["UUID", "STATUS", "Notes"]] + [[f"u{i}", "", f"n{i}"] for i in range(8)]
    s3.put_object(Bucket=bucket, Key="talks.csv", Body="\n".join(",".join(r) for r in rows).encode())
    location = SheetLocation.parse(f"s3://{bucket}/talks.csv")

    threads = [
        threading.Thread(target=update_cells, args=(location, [(i + 2, "status", f"done-{i}")]))
        for i in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    result = read_rows(location)
    assert result[0] == ["UUID", "STATUS", "Notes"]
    assert [r[1] for r in result[1:]] == [f"done-{i}" for i in range(8)]
    assert [r[2] for r in result[1:]] == [f"n{i}" for i in range(8)]


def test_s3_csv_missing_object(stack, s3, unique_name):
    s3.create_bucket(Bucket=f"{unique_name}-empty")
    with pytest.raises(SheetError, match="does not exist"):
        read_rows(SheetLocation.parse(f"s3://{unique_name}-empty/nope.csv"))


def test_gid_selects_its_tab_through_the_metadata(stack, unique_name):
    sheet_id = f"{unique_name}tabs"
    stack.google.put_sheet(sheet_id, [["A"], ["first tab"]], tab="Notes")
    url = stack.google.put_sheet(sheet_id, [["A"], ["second tab"]], tab="S01E01 frames")
    gid = stack.google.sheet_tabs(sheet_id)[1]["sheetId"]
    assert gid != 0
    assert url.endswith(f"#gid={gid}")
    # The seed's link form, pointing at the second tab.
    seed_form = f"https://docs.google.com/google_spreadsheets/d/{sheet_id}/edit#gid={gid}"

    assert read_rows(SheetLocation.parse(seed_form)) == [["A"], ["second tab"]]
    assert read_rows(SheetLocation.parse(seed_form.partition("#")[0])) == [["A"], ["first tab"]]
    assert read_rows(SheetLocation.parse(seed_form, tab="Notes")) == [["A"], ["first tab"]]
    update_cells(SheetLocation.parse(seed_form), [(2, "a", "edited")])
    assert stack.google.get_sheet(sheet_id, "S01E01 frames") == [["A"], ["edited"]]
    assert stack.google.get_sheet(sheet_id, "Notes") == [["A"], ["first tab"]]


def test_gid_of_no_tab_is_a_clear_error(stack, unique_name):
    sheet_id = f"{unique_name}tabs"
    stack.google.put_sheet(sheet_id, [["A"], ["x"]], tab="Only")
    with pytest.raises(SheetError, match=r"gid=123 names no tab.*Only \(gid 0\)"):
        read_rows(SheetLocation.parse(f"https://docs.google.com/spreadsheets/d/{sheet_id}/edit#gid=123"))
