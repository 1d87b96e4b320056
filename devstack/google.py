"""Google stand-in: OAuth token endpoint, Sheets v4 values and YouTube v3 uploads.

A LOCAL STAND-IN for tests and the demo, not product code. It implements just what the
pipelines call, over real HTTP, so that ``GSheetsHook`` and google-api-python-client
run unchanged against it:

- ``POST /token``: any grant (service-account JWT or refresh token) gets a bearer token.
- Sheets v4 ``spreadsheets.get`` (metadata: each tab's ``sheetId``, ``title`` and ``index``)
  and ``values`` get / batchGet / update / append / batchUpdate. A spreadsheet is a folder
  ``<sheets_dir>/<spreadsheet_id>/`` with one ``<tab>.csv`` per tab and ``_tabs.json``
  holding the tabs' order and sheet ids (the first tab created gets sheet id 0, like a new
  Google spreadsheet; a CSV dropped in by hand is added after the known tabs). A range
  without a tab reads the first tab. Every request is logged in ``sheet_requests``.
- YouTube v3 resumable ``videos.insert`` (upload stored under ``youtube_dir``) and
  ``playlistItems.insert``; ``fail_next_uploads`` makes the next inserts answer 403 with a
  quota reason.
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from devstack.net import free_port

_CELL = re.compile(r"^([A-Za-z]*)(\d*)$")
SCOPES_GRANTED = ("https://www.googleapis.com/auth/youtube.upload", "https://www.googleapis.com/auth/youtube")


def _sheet_id(title: str, first: bool) -> int:
    """The first tab of a spreadsheet has sheet id 0; later ones a stable number from the title."""
    return 0 if first else zlib.crc32(title.encode()) % 2_000_000_000 + 1


def _col_number(letters: str) -> int:
    number = 0
    for char in letters.upper():
        number = number * 26 + ord(char) - 64
    return number


def parse_a1(a1: str) -> tuple[str | None, int, int, int | None, int | None]:
    """Split an A1 range into (tab, first_row, first_col, last_row, last_col), 0-based, ends inclusive."""
    tab: str | None = None
    cells = a1
    if "!" in a1:
        tab, _, cells = a1.rpartition("!")
    elif a1.startswith("'") or not re.match(r"^[A-Za-z]{0,3}\d*(:[A-Za-z]{0,3}\d*)?$", a1):
        tab, cells = a1, ""
    if tab is not None and tab.startswith("'") and tab.endswith("'"):
        tab = tab[1:-1].replace("''", "'")
    if not cells:
        return tab, 0, 0, None, None
    start, _, end = cells.partition(":")
    m1, m2 = _CELL.match(start), _CELL.match(end or start)
    if not m1 or not m2:
        raise ValueError(f"bad A1 range {a1!r}")
    c1, r1 = m1.groups()
    c2, r2 = m2.groups()
    first_col = _col_number(c1) - 1 if c1 else 0
    first_row = int(r1) - 1 if r1 else 0
    last_col = _col_number(c2) - 1 if c2 else None
    last_row = int(r2) - 1 if r2 else None
    return tab, first_row, first_col, last_row, last_col


class SheetStore:
    """CSV-backed spreadsheets with ordered tabs and sheet ids, safe for concurrent requests."""

    META = "_tabs.json"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lock = threading.RLock()

    def _path(self, spreadsheet_id: str, tab: str | None) -> Path:
        folder = self.root / spreadsheet_id
        if not folder.is_dir():
            raise KeyError(f"Requested entity was not found: spreadsheet {spreadsheet_id}")
        if tab is None:
            tabs = self.tabs(spreadsheet_id)
            if not tabs:
                raise KeyError(f"spreadsheet {spreadsheet_id} has no sheets")
            tab = tabs[0]["title"]
        path = folder / f"{tab}.csv"
        if not path.exists():
            raise ValueError(f"Unable to parse range: sheet {tab!r} not found")
        return path

    def tabs(self, spreadsheet_id: str) -> list[dict]:
        """``[{"title", "sheetId"}]`` in tab order (empty for an unknown spreadsheet)."""
        folder = self.root / spreadsheet_id
        with self.lock:
            meta = folder / self.META
            known = json.loads(meta.read_text()) if meta.exists() else []
            titles = {t["title"] for t in known}
            present = {p.stem for p in folder.glob("*.csv")}
            tabs = [t for t in known if t["title"] in present]
            tabs += [{"title": t, "sheetId": _sheet_id(t, not tabs)} for t in sorted(present - titles)]
        return tabs

    def read(self, spreadsheet_id: str, tab: str | None = None) -> list[list[str]]:
        with self.lock:
            text = self._path(spreadsheet_id, tab).read_text(encoding="utf-8")
        return list(csv.reader(io.StringIO(text)))

    def write(
        self,
        spreadsheet_id: str,
        rows: list[list[str]],
        tab: str | None = "Sheet1",
        sheet_id: int | None = None,
    ) -> int:
        """Create or replace a tab's cells; returns its sheet id (kept when the tab exists)."""
        folder = self.root / spreadsheet_id
        folder.mkdir(parents=True, exist_ok=True)
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        with self.lock:
            if tab is None:
                tab = self._path(spreadsheet_id, None).stem
            tabs = self.tabs(spreadsheet_id)
            existing = next((t for t in tabs if t["title"] == tab), None)
            if existing is None:
                existing = {
                    "title": tab,
                    "sheetId": _sheet_id(tab, not tabs) if sheet_id is None else sheet_id,
                }
                tabs.append(existing)
            path = folder / f"{tab}.csv"
            tmp = path.with_suffix(".tmp")
            tmp.write_text(buffer.getvalue(), encoding="utf-8")
            tmp.replace(path)
            (folder / self.META).write_text(json.dumps(tabs))
        return existing["sheetId"]

    def get_range(self, spreadsheet_id: str, a1: str) -> dict:
        tab, r1, c1, r2, c2 = parse_a1(a1)
        rows = self.read(spreadsheet_id, tab)
        selected = []
        for row in rows[r1 : None if r2 is None else r2 + 1]:
            cells = row[c1 : None if c2 is None else c2 + 1]
            while cells and cells[-1] == "":
                cells.pop()
            selected.append(cells)
        while selected and not selected[-1]:
            selected.pop()
        result = {"range": a1, "majorDimension": "ROWS"}
        if selected:
            result["values"] = selected
        return result

    def set_range(self, spreadsheet_id: str, a1: str, values: list[list], append: bool = False) -> dict:
        tab, r1, c1, _, _ = parse_a1(a1)
        with self.lock:
            rows = self.read(spreadsheet_id, tab)
            if append:
                r1 = len(rows)
            for i, new_row in enumerate(values):
                while len(rows) <= r1 + i:
                    rows.append([])
                row = rows[r1 + i]
                for j, value in enumerate(new_row):
                    while len(row) <= c1 + j:
                        row.append("")
                    row[c1 + j] = "" if value is None else str(value)
            self.write(
                spreadsheet_id, rows, tab if tab is not None else self._path(spreadsheet_id, None).stem
            )
        cells = sum(len(r) for r in values)
        return {
            "spreadsheetId": spreadsheet_id,
            "updatedRange": a1,
            "updatedRows": len(values),
            "updatedCells": cells,
        }


class YouTubeStore:
    """Uploaded videos and playlist inserts, kept for tests and the demo."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lock = threading.Lock()
        self.uploads: list[dict] = []
        self.playlist_items: list[dict] = []
        self.sessions: dict[str, dict] = {}
        self.calls: list[dict] = []  # every YouTube API request (uploads' bytes left out), oldest first
        self._failures: list[str] = []

    def calls_to(self, method: str, path: str) -> list[dict]:
        """The recorded calls of one method and path, e.g. ``("PUT", "/youtube/v3/videos")``."""
        with self.lock:
            return [c for c in self.calls if c["method"] == method and c["path"] == path]

    def fail_next_uploads(self, count: int, reason: str = "quotaExceeded") -> None:
        with self.lock:
            self._failures.extend([reason] * count)

    def take_failure(self) -> str | None:
        with self.lock:
            return self._failures.pop(0) if self._failures else None

    @property
    def captions(self) -> list[dict]:
        """Caption tracks from captions.insert/update (see ``_more_youtube_routes``), kept beside the uploads."""
        return self.__dict__.setdefault("_captions", [])


class _Handler(BaseHTTPRequestHandler):
    server: _GoogleServer
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep test output quiet
        pass

    # -- plumbing ---------------------------------------------------------------------------
    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, payload: dict | None = None, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode() if payload is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, reason: str = "badRequest") -> None:
        self._send(status, {"error": {"code": status, "message": message, "errors": [{"reason": reason}]}})

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        query = parse_qs(parts.query)
        body = self._body()
        if "youtube/v3/" in path:
            self._record_call(method, path, query, body)
        try:
            if path == "/token":
                self._send(
                    200,
                    {"access_token": f"local-{uuid.uuid4().hex}", "token_type": "Bearer", "expires_in": 3600},
                )
            elif path.startswith("/v4/spreadsheets/"):
                self._sheets(method, path, query, body)
            elif path.startswith(("/upload/youtube/v3/videos", "/resumable/upload/youtube/v3/videos")):
                self._youtube_upload(method, query, body)
            elif path == "/youtube/v3/playlistItems" and method == "POST":
                item = json.loads(body or b"{}")
                item["id"] = f"pli-{uuid.uuid4().hex[:12]}"
                with self.server.youtube.lock:
                    self.server.youtube.playlist_items.append(item)
                self._send(200, {"kind": "youtube#playlistItem", **item})
            elif not self._more_youtube_routes(method, path, query, body):
                self._error(404, f"no stand-in route for {method} {path}", "notFound")
        except KeyError as err:
            self._error(404, str(err.args[0]) if err.args else "not found", "notFound")
        except ValueError as err:
            self._error(400, str(err))

    do_GET = lambda self: self._dispatch("GET")  # noqa: E731
    do_POST = lambda self: self._dispatch("POST")  # noqa: E731
    do_PUT = lambda self: self._dispatch("PUT")  # noqa: E731
    do_DELETE = lambda self: self._dispatch("DELETE")  # noqa: E731

    def _record_call(self, method: str, path: str, query: dict, body: bytes) -> None:
        """Keep the call for tests: JSON bodies parsed, media bytes left out."""
        try:
            payload = json.loads(body) if body and not path.startswith(("/upload/", "/resumable/")) else None
        except ValueError:
            payload = None
        call = {"method": method, "path": path, "query": {k: v[0] for k, v in query.items()}, "body": payload}
        with self.server.youtube.lock:
            self.server.youtube.calls.append(call)

    # -- Sheets -----------------------------------------------------------------------------
    def _sheets(self, method: str, path: str, query: dict, body: bytes) -> None:
        rest = path[len("/v4/spreadsheets/") :]
        spreadsheet_id, _, tail = rest.partition("/")
        spreadsheet_id = unquote(spreadsheet_id)
        store = self.server.sheets
        payload = json.loads(body) if body else None
        self.server.sheet_requests.append(
            {
                "method": method,
                "spreadsheet_id": spreadsheet_id,
                "path": tail,
                "query": query,
                "body": payload,
            }
        )
        if ":" in spreadsheet_id and not tail:  # e.g. <id>:batchUpdate on the spreadsheet itself
            raise ValueError("spreadsheet-level batchUpdate is not implemented by the stand-in")
        if not tail:
            tabs = store.tabs(spreadsheet_id)
            if not tabs:
                raise KeyError(f"Requested entity was not found: spreadsheet {spreadsheet_id}")
            sheets = [
                {
                    "properties": {
                        "sheetId": t["sheetId"],
                        "title": t["title"],
                        "index": i,
                        "sheetType": "GRID",
                        "gridProperties": {"rowCount": 1000, "columnCount": 26},
                    }
                }
                for i, t in enumerate(tabs)
            ]
            self._send(
                200,
                {"spreadsheetId": spreadsheet_id, "properties": {"title": spreadsheet_id}, "sheets": sheets},
            )
            return
        if tail == "values:batchGet":
            ranges = query.get("ranges", [])
            value_ranges = [store.get_range(spreadsheet_id, r) for r in ranges]
            self._send(200, {"spreadsheetId": spreadsheet_id, "valueRanges": value_ranges})
        elif tail == "values:batchUpdate" and method == "POST":
            responses = [
                store.set_range(spreadsheet_id, d["range"], d.get("values", [])) for d in payload["data"]
            ]
            self._send(200, {"spreadsheetId": spreadsheet_id, "responses": responses})
        elif tail.startswith("values/"):
            a1 = unquote(tail[len("values/") :])
            if a1.endswith(":append") and method == "POST":
                result = store.set_range(
                    spreadsheet_id, a1[: -len(":append")], payload["values"], append=True
                )
                self._send(200, {"spreadsheetId": spreadsheet_id, "updates": result})
            elif method == "GET":
                self._send(200, store.get_range(spreadsheet_id, a1))
            elif method == "PUT":
                self._send(200, store.set_range(spreadsheet_id, a1, payload.get("values", [])))
            else:
                self._error(405, f"{method} not allowed on values")
        else:
            self._error(404, f"unknown sheets path {tail}", "notFound")

    # -- YouTube ----------------------------------------------------------------------------
    def _youtube_upload(self, method: str, query: dict, body: bytes) -> None:
        yt = self.server.youtube
        if method == "POST" and query.get("uploadType") == ["resumable"]:
            reason = yt.take_failure()
            if reason:
                self._error(403, f"The request cannot be completed because of {reason}.", reason)
                return
            session = uuid.uuid4().hex
            total = self.headers.get("X-Upload-Content-Length")
            with yt.lock:
                yt.sessions[session] = {
                    "meta": json.loads(body or b"{}"),
                    "part": query.get("part", [""])[0],
                    "received": 0,
                    "total": int(total) if total else None,
                }
            (yt.root / f"{session}.part").write_bytes(b"")
            host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_port}"
            location = f"http://{host}/upload/youtube/v3/videos?uploadType=resumable&upload_id={session}"
            self._send(200, None, {"Location": location})
            return
        if method == "PUT" and "upload_id" in query:
            self._youtube_chunk(query["upload_id"][0], body)
            return
        self._error(400, "only resumable uploads are implemented by the stand-in")

    def _youtube_chunk(self, session_id: str, body: bytes) -> None:
        yt = self.server.youtube
        with yt.lock:
            session = yt.sessions.get(session_id)
        if session is None:
            self._error(404, "upload session not found", "notFound")
            return
        content_range = self.headers.get("Content-Range", "")
        match = re.match(r"bytes (\*|(\d+)-(\d+))/(\*|\d+)", content_range)
        total = session["total"]
        if match and match.group(4) != "*":
            total = int(match.group(4))
        part_file = yt.root / f"{session_id}.part"
        if body:
            start = int(match.group(2)) if match and match.group(2) else session["received"]
            if start != session["received"]:
                self._send(
                    308, None, {"Range": f"bytes=0-{session['received'] - 1}"} if session["received"] else {}
                )
                return
            with part_file.open("ab") as fh:
                fh.write(body)
            session["received"] += len(body)
        if total is None or session["received"] < total:
            headers = {"Range": f"bytes=0-{session['received'] - 1}"} if session["received"] else {}
            self._send(308, None, headers)
            return
        video_id = session.get("video_id")
        if video_id is None:
            video_id = uuid.uuid4().hex[:11]
            final = yt.root / f"{video_id}.mp4"
            part_file.replace(final)
            meta = session["meta"]
            record = {
                "id": video_id,
                "snippet": meta.get("snippet", {}),
                "status": meta.get("status", {}),
                "path": final,
                "size": session["received"],
            }
            (yt.root / f"{video_id}.json").write_text(
                json.dumps({k: v for k, v in record.items() if k != "path"}, indent=2)
            )
            with yt.lock:
                session["video_id"] = video_id
                yt.uploads.append(record)
        with yt.lock:
            record = next(u for u in yt.uploads if u["id"] == video_id)
        self._send(
            200,
            {
                "kind": "youtube#video",
                "id": video_id,
                "snippet": record["snippet"],
                "status": record["status"],
            },
        )

    # -- YouTube captions, videos.list/update, channels.list, installed-app OAuth -------------
    # Added for transcription and the credential tool. Only routes nothing above answers reach here.
    def _more_youtube_routes(self, method: str, path: str, query: dict, body: bytes) -> bool:  # noqa: PLR0911
        yt = self.server.youtube
        if path == "/o/oauth2/token" and method == "POST":
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            answer = {"access_token": f"local-{uuid.uuid4().hex}", "token_type": "Bearer", "expires_in": 3599}
            if form.get("grant_type") == "authorization_code":
                if not form.get("code"):
                    self._send(400, {"error": "invalid_grant", "error_description": "code is required"})
                    return True
                answer["refresh_token"] = f"local-refresh-{uuid.uuid4().hex[:12]}"
                answer["scope"] = " ".join(SCOPES_GRANTED)
            self._send(200, answer)
            return True
        if path == "/o/oauth2/auth" and method == "GET":  # the consent screen: the person always agrees
            redirect = query["redirect_uri"][0]
            params = urlencode(
                {"code": f"local-code-{uuid.uuid4().hex[:8]}", "state": query.get("state", [""])[0]}
            )
            self._send(302, {}, {"Location": f"{redirect}{'&' if '?' in redirect else '?'}{params}"})
            return True
        if path == "/youtube/v3/channels" and method == "GET":
            self._send(200, {"items": [{"id": "UC-local-channel", "snippet": {"title": "Local channel"}}]})
            return True
        if path == "/youtube/v3/videos" and method in ("GET", "PUT"):
            self._videos_list_update(method, query, body)
            return True
        if path == "/youtube/v3/videos" and method == "DELETE":
            video_id = query.get("id", [""])[0]
            with yt.lock:
                found = [u for u in yt.uploads if u["id"] == video_id]
                yt.uploads[:] = [u for u in yt.uploads if u["id"] != video_id]
            if not found:
                self._error(404, "video not found", "videoNotFound")
            else:
                (yt.root / f"{video_id}.json").unlink(missing_ok=True)
                self._send(204)
            return True
        if path in ("/upload/youtube/v3/captions", "/youtube/v3/captions") and method in ("POST", "PUT"):
            self._captions_write(method, body)
            return True
        if path == "/youtube/v3/captions" and method == "GET":
            video_id = query.get("videoId", [""])[0]
            items = [
                {"id": c["id"], "snippet": dict(c["snippet"])}
                for c in yt.captions
                if c["snippet"].get("videoId") == video_id
            ]
            self._send(200, {"items": items})
            return True
        return False

    def _videos_list_update(self, method: str, query: dict, body: bytes) -> None:
        yt = self.server.youtube
        if method == "GET":
            ids = set(",".join(query.get("id", [])).split(","))
            with yt.lock:
                items = [
                    {"id": u["id"], "snippet": u["snippet"], "status": u["status"]}
                    for u in yt.uploads
                    if u["id"] in ids
                ]
            self._send(200, {"items": items})
            return
        change = json.loads(body or b"{}")
        with yt.lock:
            record = next((u for u in yt.uploads if u["id"] == change.get("id")), None)
            if record is None:
                self._error(404, "video not found", "videoNotFound")
                return
            for part in query.get("part", ["snippet"])[0].split(","):
                if part in change:
                    if part == "snippet" and not (
                        change["snippet"].get("title") and change["snippet"].get("categoryId")
                    ):
                        self._error(
                            400, "snippet.title and snippet.categoryId are required", "invalidVideoMetadata"
                        )
                        return
                    record[part] = change[part]
            (yt.root / f"{record['id']}.json").write_text(
                json.dumps({k: v for k, v in record.items() if k != "path"}, indent=2)
            )
        self._send(
            200,
            {
                "kind": "youtube#video",
                "id": record["id"],
                "snippet": record["snippet"],
                "status": record["status"],
            },
        )

    def _captions_write(self, method: str, body: bytes) -> None:
        """captions.insert (POST) / captions.update (PUT), as multipart/related: JSON metadata + the file."""
        import email.parser
        import email.policy

        yt = self.server.youtube
        content_type = self.headers.get("Content-Type", "")
        metadata: dict = {}
        media = b""
        if content_type.startswith("multipart/"):
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                f"Content-Type: {content_type}\r\n\r\n".encode() + body
            )
            parts = list(message.iter_parts())
            metadata = json.loads(parts[0].get_payload(decode=True) or b"{}")
            media = parts[1].get_payload(decode=True) if len(parts) > 1 else b""
        else:
            metadata = json.loads(body or b"{}")
        with yt.lock:
            if method == "PUT":
                caption = next((c for c in yt.captions if c["id"] == metadata.get("id")), None)
                if caption is None:
                    self._error(404, "caption track not found", "captionNotFound")
                    return
            else:
                snippet = metadata.get("snippet", {})
                if not any(u["id"] == snippet.get("videoId") for u in yt.uploads):
                    self._error(404, "video not found", "videoNotFound")
                    return
                caption = {"id": f"cap-{uuid.uuid4().hex[:12]}", "snippet": snippet, "versions": []}
                yt.captions.append(caption)
            if media:
                caption["versions"].append(media.decode("utf-8"))
                caption["content"] = media.decode("utf-8")
        self._send(200, {"kind": "youtube#caption", "id": caption["id"], "snippet": caption["snippet"]})


class _GoogleServer(ThreadingHTTPServer):
    daemon_threads = True
    sheets: SheetStore
    youtube: YouTubeStore
    sheet_requests: list[dict]


class GoogleStandIn:
    """OAuth + Sheets + YouTube on 127.0.0.1:<port>, data kept under ``workdir``."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.root_url = f"http://127.0.0.1:{self.port}/"
        self.token_uri = f"{self.root_url}token"
        self.sheets_dir = workdir / "sheets"
        self.youtube_dir = workdir / "youtube"
        self.sheets_dir.mkdir(parents=True, exist_ok=True)
        self.youtube_dir.mkdir(parents=True, exist_ok=True)
        self._server = _GoogleServer(("127.0.0.1", self.port), _Handler)
        self._server.sheets = SheetStore(self.sheets_dir)
        self._server.youtube = YouTubeStore(self.youtube_dir)
        self._server.sheet_requests = []
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="google-stand-in", daemon=True
        )

    @property
    def youtube(self) -> YouTubeStore:
        return self._server.youtube

    @property
    def sheet_requests(self) -> list[dict]:
        return self._server.sheet_requests

    def start(self) -> GoogleStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def put_sheet(
        self, spreadsheet_id: str, rows: list[list[str]], tab: str = "Sheet1", sheet_id: int | None = None
    ) -> str:
        """Create or replace one tab; returns the tab's docs.google.com link (``…/edit#gid=<sheet id>``)."""
        gid = self._server.sheets.write(spreadsheet_id, [[str(c) for c in r] for r in rows], tab, sheet_id)
        return f"https://docs.google.com/spreadsheets/d/{spreadsheet_id}/edit#gid={gid}"

    def sheet_tabs(self, spreadsheet_id: str) -> list[dict]:
        """``[{"title", "sheetId"}]`` of a spreadsheet, in tab order."""
        return self._server.sheets.tabs(spreadsheet_id)

    def get_sheet(self, spreadsheet_id: str, tab: str | None = None) -> list[list[str]]:
        return self._server.sheets.read(spreadsheet_id, tab)

    def service_account_key(self) -> dict:
        """A freshly generated service-account key whose token_uri is this stand-in."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return {
            "type": "service_account",
            "project_id": "local-stand-in",
            "private_key_id": uuid.uuid4().hex,
            "private_key": pem,
            "client_email": "pipelines@local-stand-in.iam.gserviceaccount.com",
            "client_id": "100000000000000000000",
            "token_uri": self.token_uri,
        }

    def connections(self) -> dict[str, dict]:
        """``google_cloud_default`` (Sheets, service account) and ``youtube_default`` (OAuth user)."""
        return {
            "google_cloud_default": {
                "conn_type": "google_cloud_platform",
                "extra": {
                    "keyfile_dict": json.dumps(self.service_account_key()),
                    "project": "local-stand-in",
                    "num_retries": 2,
                    "api_endpoint": self.root_url,
                },
            },
            "youtube_default": {
                "conn_type": "generic",
                "login": "local-client-id.apps.googleusercontent.com",
                "password": "local-client-secret",
                "extra": {
                    "refresh_token": "local-refresh-token",
                    "token_uri": self.token_uri,
                    "api_endpoint": self.root_url,
                },
            },
        }
