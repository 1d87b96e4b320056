"""The credential set-up tool against the stand-ins: the OAuth installed-app flow's token exchange (Google)
and the Graph API token exchange (Facebook), each ending in a printed connection that works."""

from __future__ import annotations

import json
import threading
import uuid

import pytest
import requests

from devstack import facebook as fb_stand_in
from include.video_publishing import credentials, facebook


def printed_connection(stdout: str) -> dict:
    line = next(line for line in stdout.splitlines() if line.startswith("JSON: "))
    return json.loads(line[len("JSON: ") :])


@pytest.fixture
def page_owner(stack):
    """A user who manages two Pages of their own, and a short-lived token of theirs."""
    user = f"user-{uuid.uuid4().hex[:6]}"
    store = stack.facebook.store
    first = str(uuid.uuid4().int)[:15]
    second = str(uuid.uuid4().int)[:15]
    tokens = {
        first: store.add_page(first, f"Conference {first[:4]}", user),
        second: store.add_page(second, f"Meetup {second[:4]}", user),
    }
    return {"user": user, "short": store.short_lived_user_token(user), "pages": tokens}


def test_facebook_exchanges_the_token_and_prints_a_working_page_connection(
    stack, page_owner, capsys, tmp_path
):
    page_id = next(iter(page_owner["pages"]))
    mark = len(stack.facebook.store.calls)
    code = credentials.main(
        [
            "facebook",
            "--app-id", fb_stand_in.APP_ID,
            "--app-secret", fb_stand_in.APP_SECRET,
            "--user-token", page_owner["short"],
            "--page", page_id,
            "--api-endpoint", stack.facebook.root_url,
        ],
        ask=None,
    )  # fmt: skip
    out, err = capsys.readouterr()

    assert code == 0, err
    connection = printed_connection(out)
    assert connection["login"] == page_id
    assert connection["password"] == page_owner["pages"][page_id]  # the never-expiring Page token
    assert connection["extra"]["api_endpoint"] == stack.facebook.root_url
    assert "URI:  generic://" in out
    assert f"checked: Conference {page_id[:4]} ({page_id})" in err
    exchange = [c for c in stack.facebook.store.calls[mark:] if c["path"] == "oauth/access_token"]
    assert exchange[0]["params"]["fb_exchange_token"] == page_owner["short"]
    assert exchange[0]["status"] == 200

    # the printed connection publishes to that Page
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x" * 5000)
    with credentials._as_airflow_connection("printed_facebook", connection):
        client = facebook.GraphClient.from_connection("printed_facebook")
        video_id = facebook.upload_video(
            client, video, facebook.VideoMetadata("t", "d"), session=None, on_session=lambda s: None
        )
    assert stack.facebook.store.videos[video_id]["page_id"] == page_id


def test_facebook_wrong_app_secret_fails_with_facebooks_reason(stack, page_owner, capsys):
    code = credentials.main(
        [
            "facebook", "--app-id", fb_stand_in.APP_ID, "--app-secret", "wrong",
            "--user-token", page_owner["short"], "--api-endpoint", stack.facebook.root_url,
        ],
        ask=None,
    )  # fmt: skip
    _, err = capsys.readouterr()
    assert code == 1
    assert "exchanging the user token failed: Error validating client secret." in err


def test_facebook_several_pages_need_a_choice(stack, page_owner):
    endpoint, version = stack.facebook.root_url, fb_stand_in.GRAPH_VERSION
    with pytest.raises(credentials.SetupError, match="several Pages; choose one with --page"):
        credentials.facebook_connection(
            fb_stand_in.APP_ID,
            fb_stand_in.APP_SECRET,
            page_owner["short"],
            endpoint=endpoint,
            version=version,
        )
    connection = credentials.facebook_connection(
        fb_stand_in.APP_ID,
        fb_stand_in.APP_SECRET,
        page_owner["short"],
        endpoint=endpoint,
        version=version,
        ask=lambda prompt: "2",
    )
    assert connection["login"] == list(page_owner["pages"])[1]
    with pytest.raises(credentials.SetupError, match="enter a number from 1 to 2"):
        credentials.facebook_connection(
            fb_stand_in.APP_ID,
            fb_stand_in.APP_SECRET,
            page_owner["short"],
            endpoint=endpoint,
            version=version,
            ask=lambda prompt: "7",
        )


class _Browser:
    """Plays the person at the consent screen: opens the URL and follows Google's redirect back."""

    def __init__(self) -> None:
        self.opened: list[str] = []

    def open(self, url: str, new: int = 0, autoraise: bool = True) -> bool:
        self.opened.append(url)
        threading.Thread(target=requests.get, args=(url,), kwargs={"timeout": 10}, daemon=True).start()
        return True


def test_youtube_installed_app_flow_prints_a_working_connection(stack, tmp_path, monkeypatch, capsys):
    root = stack.google.root_url
    secrets = tmp_path / "client_secret.json"
    secrets.write_text(
        json.dumps(
            {
                "installed": {
                    "client_id": "local-desktop.apps.googleusercontent.com",
                    "client_secret": "local-desktop-secret",
                    "auth_uri": f"{root}o/oauth2/auth",
                    "token_uri": f"{root}o/oauth2/token",
                    "redirect_uris": ["http://localhost"],
                }
            }
        )
    )
    browser = _Browser()
    monkeypatch.setattr("webbrowser.get", lambda name=None: browser)
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the stand-in's token endpoint is plain HTTP

    code = credentials.main(["youtube", "--client-secrets", str(secrets), "--api-endpoint", root])
    out, err = capsys.readouterr()

    assert code == 0, err
    assert "access_type=offline" in browser.opened[0]
    assert "prompt=consent" in browser.opened[0]
    connection = printed_connection(out)
    assert connection["login"] == "local-desktop.apps.googleusercontent.com"
    assert connection["password"] == "local-desktop-secret"
    assert connection["extra"]["refresh_token"].startswith("local-refresh-")  # from the code exchange
    assert connection["extra"]["token_uri"] == f"{root}o/oauth2/token"
    assert "checked: Local channel (UC-local-channel)" in err


def test_youtube_unreadable_client_secrets_names_the_option(tmp_path, capsys):
    code = credentials.main(["youtube", "--client-secrets", str(tmp_path / "missing.json")])
    _, err = capsys.readouterr()
    assert code == 1
    assert "--client-secrets" in err
