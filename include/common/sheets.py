"""Spreadsheet access shared by both pipelines: Google Sheets or a CSV export in S3.

A *sheet location* is written by people in manifests and config, so it accepts the
forms they copy from a browser: any ``docs.google.com`` link with ``/d/<id>`` (the usual
``/spreadsheets/d/<id>/edit`` and older forms such as ``/google_spreadsheets/d/<id>``), a
bare spreadsheet id, or an ``s3://bucket/key.csv`` export with the same columns.

Which tab is read: a tab name given by the caller (a manifest's ``SHEET_NAME``, a config's
``*_tab``) wins; otherwise the link's ``#gid=<n>`` (or ``?gid=<n>``) names the tab by its
sheet id, resolved through the spreadsheet's metadata (``spreadsheets.get``); a gid that
names no tab is a ``SheetError``, never a silent first tab. With neither, the first tab.

Cells are always returned and written as plain strings. Writes to Google use
``valueInputOption=RAW`` so a title starting with ``=`` never becomes a formula.
Writes to an S3 CSV go through ``include.common.s3.update_object``
(read-modify-write with a conditional ``PutObject``, retried on conflict), so two DAG runs that
update different rows of one CSV at the same moment never lose each other's update.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from include.common import s3

_GSHEET_URL = re.compile(r"^https?://docs\.google\.com/(?:[^?#]*/)?d/([A-Za-z0-9_-]+)")
_GSHEET_ID = re.compile(r"^[A-Za-z0-9_-]{10,}$")
_GID = re.compile(r"[#&?]gid=(\d+)")


class SheetError(Exception):
    """A sheet cannot be read or written as asked (bad location, missing row or column)."""


@dataclass(frozen=True)
class SheetLocation:
    """Where a table lives: a Google spreadsheet (and tab) or a CSV object in S3."""

    kind: str
    spreadsheet_id: str | None = None
    tab: str | None = None
    bucket: str | None = None
    key: str | None = None
    gid: int | None = None  # the link's tab (sheet id), used when no tab name is given

    @classmethod
    def parse(cls, text: str, tab: str | None = None) -> SheetLocation:
        """Parse a location as people write it; ``tab`` names the Google tab and wins over a ``gid``."""
        value = (text or "").strip()
        if not value:
            raise ValueError("sheet location is empty")
        if value.startswith("s3://"):
            bucket, key = s3.parse_url(value, field="sheet location")
            if not key:
                raise ValueError(f"sheet location {value!r}: expected s3://bucket/key.csv")
            return cls(kind="s3", bucket=bucket, key=key)
        match = _GSHEET_URL.match(value)
        if match:
            gid = _GID.search(value)
            return cls(
                kind="gsheet",
                spreadsheet_id=match.group(1),
                tab=tab or None,
                gid=int(gid.group(1)) if gid and not tab else None,
            )
        if _GSHEET_ID.match(value):
            return cls(kind="gsheet", spreadsheet_id=value, tab=tab or None)
        raise ValueError(
            f"sheet location {value!r} is neither a Google Sheets link "
            "(https://docs.google.com/.../d/<id>/...), a spreadsheet id, nor s3://bucket/key.csv"
        )

    def __str__(self) -> str:
        if self.kind == "s3":
            return f"s3://{self.bucket}/{self.key}"
        if self.tab:
            return f"gsheet:{self.spreadsheet_id}!{self.tab}"
        return f"gsheet:{self.spreadsheet_id}" + (f"#gid={self.gid}" if self.gid is not None else "")


def read_rows(
    location: SheetLocation,
    *,
    gcp_conn_id: str = "google_cloud_default",
    aws_conn_id: str = "aws_default",
) -> list[list[str]]:
    """Return the table, header row first, every row padded to the header's width."""
    if location.kind == "s3":
        rows = _read_s3_csv(location, aws_conn_id)
    else:
        hook = _gsheets_hook(gcp_conn_id)
        rows = hook.get_values(spreadsheet_id=location.spreadsheet_id, range_=_a1(tab_title(hook, location)))
    return _pad([[_cell(c) for c in row] for row in rows])


def update_cells(
    location: SheetLocation,
    updates: list[tuple[int, str, str]],
    *,
    gcp_conn_id: str = "google_cloud_default",
    aws_conn_id: str = "aws_default",
) -> None:
    """Write ``(row_number, column_name, value)`` cells; row 1 is the header.

    Column names match the header case-insensitively. Writing the same values twice
    is harmless, which is what makes the callers idempotent under retry.
    """
    if not updates:
        return
    if location.kind == "s3":
        _update_s3_csv(location, updates, aws_conn_id)
        return
    hook = _gsheets_hook(gcp_conn_id)
    tab = tab_title(hook, location)
    header = hook.get_values(spreadsheet_id=location.spreadsheet_id, range_=_a1(tab, "1:1"))
    columns = column_index(header[0] if header else [])
    data = []
    for row_number, column, value in updates:
        col = _require_column(columns, column, location)
        data.append({"range": _a1(tab, f"{_col_letter(col)}{row_number}"), "values": [[value]]})
    hook.batch_update_values(
        spreadsheet_id=location.spreadsheet_id,
        ranges=[d["range"] for d in data],
        values=[d["values"] for d in data],
        value_input_option="RAW",
    )


def tab_title(hook, location: SheetLocation) -> str | None:
    """The tab to address: the given name, else the title of the link's gid, else None (first tab).

    A gid costs one ``spreadsheets.get`` (metadata only, no cells) per read or write.
    """
    if location.tab or location.gid is None:
        return location.tab
    meta = hook.get_spreadsheet(spreadsheet_id=location.spreadsheet_id)
    tabs = {s["properties"].get("sheetId"): s["properties"]["title"] for s in meta.get("sheets", ())}
    if location.gid not in tabs:
        raise SheetError(
            f"{location}: the link's gid={location.gid} names no tab of the spreadsheet "
            f"(tabs: {', '.join(f'{t} (gid {i})' for i, t in tabs.items())})"
        )
    return tabs[location.gid]


def column_index(header: list[str]) -> dict[str, int]:
    """Map upper-cased, stripped header names to their position (first occurrence wins)."""
    index: dict[str, int] = {}
    for position, name in enumerate(header):
        index.setdefault(str(name).strip().upper(), position)
    return index


def _require_column(columns: dict[str, int], column: str, location: SheetLocation) -> int:
    try:
        return columns[column.strip().upper()]
    except KeyError:
        raise SheetError(f"{location}: no column {column!r} in header {sorted(columns)}") from None


def _gsheets_hook(gcp_conn_id: str):
    from airflow.providers.google.suite.hooks.sheets import GSheetsHook
    from airflow.sdk.bases.hook import BaseHook

    # ``api_endpoint`` in the connection extra points the client at a private or local endpoint;
    # GSheetsHook takes it only as a constructor argument.
    extra = BaseHook.get_connection(gcp_conn_id).extra_dejson
    return GSheetsHook(gcp_conn_id=gcp_conn_id, api_endpoint=extra.get("api_endpoint") or None)


def _a1(tab: str | None, cells: str | None = None) -> str:
    if tab is None:
        return cells or "A:ZZ"
    quoted = "'" + tab.replace("'", "''") + "'"
    return f"{quoted}!{cells}" if cells else quoted


def _col_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _cell(value: object) -> str:
    return "" if value is None else str(value)


def _pad(rows: list[list[str]]) -> list[list[str]]:
    if not rows:
        return rows
    width = max(len(r) for r in rows)
    return [r + [""] * (width - len(r)) for r in rows]


def _read_s3_csv(location: SheetLocation, aws_conn_id: str) -> list[list[str]]:
    client = s3.client(aws_conn_id)
    try:
        obj = client.get_object(Bucket=location.bucket, Key=location.key)
    except client.exceptions.NoSuchKey:
        raise SheetError(f"{location}: object does not exist") from None
    text = obj["Body"].read().decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def _update_s3_csv(location: SheetLocation, updates: list[tuple[int, str, str]], aws_conn_id: str) -> None:
    def apply(body: bytes | None) -> bytes:
        if body is None:
            raise SheetError(f"{location}: object does not exist")
        rows = _pad(list(csv.reader(io.StringIO(body.decode("utf-8-sig")))))
        columns = column_index(rows[0] if rows else [])
        for row_number, column, value in updates:
            col = _require_column(columns, column, location)
            if not 1 < row_number <= len(rows):
                raise SheetError(f"{location}: row {row_number} does not exist ({len(rows)} rows)")
            rows[row_number - 1][col] = value
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        return buffer.getvalue().encode("utf-8")

    s3.update_object(s3.client(aws_conn_id), location.bucket, location.key, apply, content_type="text/csv")
