"""Facebook Graph API stand-in: Page video upload, video status/link/hide/delete/captions, token exchange.

A LOCAL STAND-IN for tests and the demo, not product code. Over real HTTP it answers exactly what
``include.video_publishing.facebook`` and the credential tool call, in the Graph API's shapes:

- ``POST /<ver>/<page-id>/videos`` with ``upload_phase`` ``start`` / ``transfer`` (multipart chunk at the
  offset it asked for; a wrong offset answers subcode 1363037 with the expected range) / ``finish``;
- ``GET /<ver>/<video-id>?fields=status,permalink_url,title,description``, ``POST /<ver>/<video-id>``
  (``expire_now`` hides), ``DELETE /<ver>/<video-id>``, ``POST|GET /<ver>/<video-id>/captions``;
- ``GET /<ver>/oauth/access_token?grant_type=fb_exchange_token`` (short-lived → long-lived user token),
  ``GET /<ver>/me/accounts`` (the Pages of a user with their Page tokens), ``GET /<ver>/me``,
  ``GET /<ver>/<page-id>``.

Tokens are checked (an unknown one answers code 190). Every call is appended to ``calls`` (method, path,
form fields without file bytes, status, error code). ``fail_next(phase, kind)`` injects errors:
``rate_limit`` (code 32 with ``estimated_time_to_regain_access``), ``server_error`` (500, code 2),
``lost_answer`` (the chunk is stored but the answer is a 500, so the client's offset is stale) and
``disconnect`` (the connection closes with no answer).
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from devstack.net import free_port

APP_ID = "100000000000001"
APP_SECRET = "local-app-secret"
GRAPH_VERSION = "v21.0"
_SRT_NAME = re.compile(r"^[^/]+\.[a-z]{2}_[A-Z]{2}\.srt$")


class GraphFailure(Exception):
    """Answer with a Graph API error."""

    def __init__(self, status: int, code: int, message: str, subcode: int = 0, **extra) -> None:
        super().__init__(message)
        self.status, self.code, self.subcode, self.extra = status, code, subcode, extra


class FacebookStore:
    """Users, Pages, tokens and uploaded videos, kept for tests and the demo."""

    def __init__(self, root: Path, chunk_size: int = 1024 * 1024) -> None:
        self.root = root
        self.chunk_size = chunk_size
        self.lock = threading.RLock()
        self.tokens: dict[str, dict] = {}
        self.pages: dict[str, dict] = {}
        self.videos: dict[str, dict] = {}
        self.calls: list[dict] = []
        self._failures: list[tuple[str, str, int, int]] = []

    # -- seeding ----------------------------------------------------------------------------
    def add_page(self, page_id: str, name: str, user_id: str = "user-1") -> str:
        """A Page managed by ``user_id``; returns its (long-lived) Page token."""
        token = f"page-{page_id}-{uuid.uuid4().hex[:8]}"
        with self.lock:
            self.pages[page_id] = {"id": page_id, "name": name, "user_id": user_id, "token": token}
            self.tokens[token] = {"kind": "page", "page_id": page_id}
        return token

    def short_lived_user_token(self, user_id: str = "user-1") -> str:
        """What the Graph API Explorer or a login dialog hands a person (valid about an hour)."""
        token = f"short-{user_id}-{uuid.uuid4().hex[:8]}"
        with self.lock:
            self.tokens[token] = {"kind": "user_short", "user_id": user_id}
        return token

    # -- error injection --------------------------------------------------------------------
    def fail_next(
        self, phase: str, kind: str = "rate_limit", count: int = 1, code: int = 32, after: int = 0
    ) -> None:
        """Make the next ``count`` calls of ``phase`` (start, transfer, finish, captions, update, delete,
        read) fail with ``kind`` (rate_limit, server_error, lost_answer, disconnect); ``after`` lets that
        many calls of the phase through first (a failure mid-upload, after some chunks arrived)."""
        with self.lock:
            self._failures.extend([(phase, kind, code, after)] + [(phase, kind, code, 0)] * (count - 1))

    def take_failure(self, phase: str) -> tuple[str, int] | None:
        with self.lock:
            for index, (wanted, kind, code, after) in enumerate(self._failures):
                if wanted == phase:
                    if after:
                        self._failures[index] = (wanted, kind, code, after - 1)
                        return None
                    del self._failures[index]
                    return kind, code
        return None

    # -- what tests look at -----------------------------------------------------------------
    def published(self, page_id: str | None = None) -> list[dict]:
        """Finished videos (newest last), with their stored file path."""
        with self.lock:
            return [
                v
                for v in self.videos.values()
                if v["finished"] and (page_id is None or v["page_id"] == page_id)
            ]

    def video_bytes(self, video_id: str) -> bytes:
        return (self.root / f"{video_id}.mp4").read_bytes()


class _Handler(BaseHTTPRequestHandler):
    server: _FacebookServer
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep test output quiet
        pass

    # -- plumbing ---------------------------------------------------------------------------
    def _send(self, status: int, payload: dict, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _form(self) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
        """URL-encoded or multipart form fields, and multipart files as (filename, bytes)."""
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        content_type = self.headers.get("Content-Type", "")
        fields: dict[str, str] = {}
        files: dict[str, tuple[str, bytes]] = {}
        if content_type.startswith("multipart/form-data"):
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                f"Content-Type: {content_type}\r\n\r\n".encode() + body
            )
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                filename = part.get_filename()
                payload = part.get_payload(decode=True) or b""
                if filename is not None:
                    files[name] = (filename, payload)
                else:
                    fields[name] = payload.decode("utf-8")
        elif body:
            fields = {k: v[0] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()}
        return fields, files

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        fields, files = self._form() if method == "POST" else ({}, {})
        params = {**query, **fields}
        segments = [s for s in parts.path.split("/") if s]
        record = {
            "method": method,
            "path": "/".join(segments[1:]),
            "params": {k: v for k, v in params.items() if k != "access_token"},
            "files": {name: (filename, len(data)) for name, (filename, data) in files.items()},
        }
        try:
            if not segments or not re.match(r"^v\d+\.\d+$", segments[0]):
                raise GraphFailure(400, 2500, "Unknown path components: no Graph API version")
            status, payload, headers = self._route(method, segments[1:], params, files)
        except GraphFailure as failure:
            error = {"message": str(failure), "type": "OAuthException", "code": failure.code}
            if failure.subcode:
                error["error_subcode"] = failure.subcode
            error.update(failure.extra.get("error_fields", {}))
            status, payload, headers = failure.status, {"error": error}, failure.extra.get("headers")
        except _Disconnect:
            record["status"] = "disconnected"
            self._record(record)
            self.close_connection = True
            self.connection.shutdown(2)
            return
        record["status"] = status
        record["error_code"] = payload.get("error", {}).get("code") if isinstance(payload, dict) else None
        self._record(record)
        self._send(status, payload, headers)

    def _record(self, record: dict) -> None:
        with self.server.store.lock:
            self.server.store.calls.append(record)

    do_GET = lambda self: self._dispatch("GET")  # noqa: E731
    do_POST = lambda self: self._dispatch("POST")  # noqa: E731
    do_DELETE = lambda self: self._dispatch("DELETE")  # noqa: E731

    # -- routing ----------------------------------------------------------------------------
    def _route(self, method: str, segments: list[str], params: dict, files: dict) -> tuple:  # noqa: PLR0911 (one return per route)
        store = self.server.store
        if segments == ["oauth", "access_token"] and method == "GET":
            return 200, self._exchange_token(params), None
        caller = store.tokens.get(params.get("access_token", ""))
        if caller is None:
            raise GraphFailure(400, 190, "Invalid OAuth access token - Cannot parse access token")
        if segments == ["me", "accounts"] and method == "GET":
            return 200, self._accounts(caller), None
        if segments == ["me"] and method == "GET":
            if caller["kind"] == "page":
                page = store.pages[caller["page_id"]]
                return 200, {"id": page["id"], "name": page["name"]}, None
            return 200, {"id": caller["user_id"], "name": f"User {caller['user_id']}"}, None
        node = segments[0] if segments else ""
        if node in store.pages:
            if segments[1:] == ["videos"] and method == "POST":
                self._check_page_token(caller, node)
                return 200, self._upload(node, params, files), None
            if len(segments) == 1 and method == "GET":
                self._inject("read")
                page = store.pages[node]
                return 200, {"id": page["id"], "name": page["name"]}, None
        with store.lock:
            video = store.videos.get(node)
        if video is None or video.get("deleted"):
            raise GraphFailure(400, 100, f"Unsupported request: object with ID '{node}' does not exist")
        self._check_page_token(caller, video["page_id"])
        return 200, self._video(method, video, segments[1:], params, files), None

    def _check_page_token(self, caller: dict, page_id: str) -> None:
        if caller.get("kind") != "page" or caller.get("page_id") != page_id:
            raise GraphFailure(403, 200, "Permissions error: a Page access token of this Page is required")

    def _inject(self, phase: str) -> None:
        failure = self.server.store.take_failure(phase)
        if failure is None:
            return
        kind, code = failure
        if kind == "rate_limit":
            usage = {"0": [{"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 7}]}
            raise GraphFailure(
                400, code, f"({'#'}{code}) Page request limit reached",
                headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
            )  # fmt: skip
        if kind == "server_error":
            raise GraphFailure(500, 2, "An unexpected error has occurred. Please retry your request later.")
        if kind == "disconnect":
            raise _Disconnect
        if kind != "lost_answer":
            raise ValueError(f"unknown failure kind {kind!r}")
        self._lose_answer = True

    def _exchange_token(self, params: dict) -> dict:
        store = self.server.store
        if params.get("grant_type") != "fb_exchange_token":
            raise GraphFailure(400, 100, "Unsupported grant_type")
        if params.get("client_id") != APP_ID:
            raise GraphFailure(400, 101, "Error validating application. Invalid application ID.")
        if params.get("client_secret") != self.server.app_secret:
            raise GraphFailure(400, 1, "Error validating client secret.")
        short = store.tokens.get(params.get("fb_exchange_token", ""))
        if short is None or short["kind"] not in ("user_short", "user_long"):
            raise GraphFailure(400, 190, "Invalid OAuth access token - Cannot parse access token")
        token = f"long-{short['user_id']}-{uuid.uuid4().hex[:8]}"
        with store.lock:
            store.tokens[token] = {"kind": "user_long", "user_id": short["user_id"]}
        return {"access_token": token, "token_type": "bearer", "expires_in": 5183944}

    def _accounts(self, caller: dict) -> dict:
        if caller["kind"] not in ("user_short", "user_long"):
            raise GraphFailure(
                400, 100, "(#100) Tried accessing nonexisting field (accounts) on node type (Page)"
            )
        pages = [p for p in self.server.store.pages.values() if p["user_id"] == caller["user_id"]]
        data = [
            {
                "id": p["id"],
                "name": p["name"],
                "category": "Conference",
                # a short-lived user token yields short-lived Page tokens; a long-lived one never-expiring ones
                "access_token": p["token"] if caller["kind"] == "user_long" else f"short-page-{p['id']}",
                "tasks": ["ANALYZE", "ADVERTISE", "MODERATE", "CREATE_CONTENT", "MANAGE"],
            }
            for p in pages
        ]
        return {"data": data, "paging": {"cursors": {"before": "b", "after": "a"}}}

    # -- uploads ----------------------------------------------------------------------------
    def _upload(self, page_id: str, params: dict, files: dict) -> dict:
        store = self.server.store
        phase = params.get("upload_phase")
        self._lose_answer = False
        if phase == "start":
            self._inject("start")
            size = int(params.get("file_size") or 0)
            if size <= 0:
                raise GraphFailure(400, 100, "(#100) file_size must be a positive integer")
            video_id, session_id = str(uuid.uuid4().int)[:15], str(uuid.uuid4().int)[:16]
            with store.lock:
                store.videos[video_id] = {
                    "id": video_id, "page_id": page_id, "session_id": session_id, "file_size": size,
                    "received": 0, "finished": False, "hidden": False, "deleted": False,
                    "title": "", "description": "", "captions": [],
                }  # fmt: skip
            (store.root / f"{video_id}.mp4").write_bytes(b"")
            return {
                "video_id": video_id,
                "upload_session_id": session_id,
                "start_offset": "0",
                "end_offset": str(min(store.chunk_size, size)),
            }
        video = self._session(params.get("upload_session_id", ""))
        if phase == "transfer":
            self._inject("transfer")
            _, chunk = files.get("video_file_chunk", ("", b""))
            start = int(params.get("start_offset", -1))
            with store.lock:
                if start != video["received"]:
                    end = min(video["received"] + store.chunk_size, video["file_size"])
                    raise GraphFailure(
                        400, 6001, "Video Upload Transfer Error: wrong start offset", 1363037,
                        error_fields={"error_data": {"start_offset": str(video["received"]), "end_offset": str(end)}},
                    )  # fmt: skip
                if not chunk or video["received"] + len(chunk) > video["file_size"]:
                    raise GraphFailure(400, 6001, "Video Upload Transfer Error: bad chunk", 1363019)
                with (store.root / f"{video['id']}.mp4").open("ab") as fh:
                    fh.write(chunk)
                video["received"] += len(chunk)
                start = video["received"]
                end = min(start + store.chunk_size, video["file_size"])
            if self._lose_answer:
                raise GraphFailure(
                    500, 2, "An unexpected error has occurred. Please retry your request later."
                )
            return {"start_offset": str(start), "end_offset": str(end)}
        if phase == "finish":
            self._inject("finish")
            with store.lock:
                if video["received"] != video["file_size"]:
                    raise GraphFailure(400, 6001, "Video Upload Transfer Error: upload incomplete", 1363030)
                if not video["finished"]:
                    video.update(
                        finished=True,
                        title=params.get("title", ""),
                        description=params.get("description", ""),
                    )
                    meta = {k: v for k, v in video.items() if k != "captions"}
                    (store.root / f"{video['id']}.json").write_text(json.dumps(meta, indent=2))
            return {"success": True}
        raise GraphFailure(400, 100, f"(#100) invalid upload_phase {phase!r}")

    def _session(self, session_id: str) -> dict:
        with self.server.store.lock:
            for video in self.server.store.videos.values():
                if video["session_id"] == session_id and not video["deleted"]:
                    return video
        raise GraphFailure(
            400, 6000, "There was a problem uploading your video file: session not found", 1363041
        )

    # -- video node -------------------------------------------------------------------------
    def _video(self, method: str, video: dict, edge: list[str], params: dict, files: dict) -> dict:
        store = self.server.store
        if not edge and method == "GET":
            self._inject("read")
            fields = (params.get("fields") or "id").split(",")
            values = {
                "id": video["id"],
                "title": video["title"],
                "description": video["description"],
                "permalink_url": f"/{video['page_id']}/videos/{video['id']}/",
                "status": self._status(video),
                "published": video["finished"] and not video["hidden"],
            }
            return {f: values[f] for f in fields if f in values}
        if not edge and method == "POST":
            self._inject("update")
            with store.lock:
                if params.get("expire_now") == "true":
                    video["hidden"] = True
                for name in ("title", "description"):
                    if name in params:
                        video[name] = params[name]
            return {"success": True}
        if not edge and method == "DELETE":
            self._inject("delete")
            with store.lock:
                video["deleted"] = True
            return {"success": True}
        if edge == ["captions"] and method == "POST":
            self._inject("captions")
            filename, data = files.get("captions_file", ("", b""))
            if not _SRT_NAME.match(filename):
                raise GraphFailure(400, 100, "(#100) captions_file must be named <name>.<locale>.srt")
            text = data.decode("utf-8")
            if "-->" not in text:
                raise GraphFailure(400, 100, "(#100) captions_file is not a SubRip file")
            locale = filename.rsplit(".", 2)[1]
            with store.lock:
                video["captions"] = [c for c in video["captions"] if c["locale"] != locale]
                video["captions"].append(
                    {"locale": locale, "srt": text, "default": params.get("default_locale") == locale}
                )
            return {"success": True}
        if edge == ["captions"] and method == "GET":
            return {"data": [{"locale": c["locale"], "is_default": c["default"]} for c in video["captions"]]}
        raise GraphFailure(400, 100, f"(#100) unsupported {method} on video edge {'/'.join(edge)!r}")

    @staticmethod
    def _status(video: dict) -> dict:
        uploaded = video["received"] == video["file_size"]
        done = video["finished"]
        return {
            "video_status": "ready" if done else ("upload_complete" if uploaded else "uploading"),
            "uploading_phase": {
                "status": "complete" if uploaded else "in_progress",
                "bytes_transferred": video["received"],
            },
            "processing_phase": {"status": "complete" if done else "not_started"},
            "publishing_phase": {"status": "complete" if done else "not_started"},
        }


class _Disconnect(Exception):
    """Close the connection without answering."""


class _FacebookServer(ThreadingHTTPServer):
    daemon_threads = True
    store: FacebookStore
    app_secret: str


class FacebookStandIn:
    """The Graph API on 127.0.0.1:<port>, one seeded Page, videos kept under ``workdir``."""

    def __init__(
        self, workdir: Path, *, page_id: str = "1000000000000042", page_name: str = "Talkbot Demo"
    ) -> None:
        self.port = free_port()
        self.root_url = f"http://127.0.0.1:{self.port}"
        self.videos_dir = Path(workdir)
        self.videos_dir.mkdir(parents=True, exist_ok=True)
        self.store = FacebookStore(self.videos_dir)
        self.page_id = page_id
        self.page_token = self.store.add_page(page_id, page_name)
        self._server = _FacebookServer(("127.0.0.1", self.port), _Handler)
        self._server.store = self.store
        self._server.app_secret = APP_SECRET
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="facebook-stand-in", daemon=True
        )

    def start(self) -> FacebookStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def connections(self) -> dict[str, dict]:
        """``facebook_default``: the seeded Page and its long-lived token, pointed at this stand-in."""
        return {
            "facebook_default": {
                "conn_type": "generic",
                "login": self.page_id,
                "password": self.page_token,
                "extra": {"api_endpoint": self.root_url, "graph_version": GRAPH_VERSION},
            }
        }
