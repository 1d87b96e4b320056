"""Set up the YouTube and Facebook connections: ``python -m include.video_publishing.credentials``.

``youtube``: runs Google's OAuth installed-app flow from the client-secrets file of a *Desktop app*
OAuth client (a browser opens on the consent screen; the channel owner signs in and agrees), asks for
offline access so Google returns a refresh token, and prints ``youtube_default``.

``facebook``: exchanges a short-lived user token (Graph API Explorer or a login dialog, with
``pages_show_list``, ``pages_read_engagement``, ``pages_manage_posts``) for a long-lived one with the
app's id and secret, lists the Pages the user manages, and prints ``facebook_default`` for the chosen
Page with its Page token (a Page token obtained from a long-lived user token does not expire).

Both print the connection as JSON (for ``airflow connections add <id> --conn-json``, or a secrets
backend) and as a URI, after checking it with one harmless read made exactly as the pipeline will make
it (the printed connection is loaded through Airflow's own connection parsing): ``channels.list`` of the
authorised channel, ``GET /<page-id>`` of the Page. The output holds secrets: paste it into a secrets
backend, not into the repository. Secrets may come from the environment instead of the command line
(``FACEBOOK_APP_SECRET``, ``FACEBOOK_USER_TOKEN``) to keep them out of shell history.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import requests

from include.video_publishing import facebook, youtube

TIMEOUT = 30


class SetupError(Exception):
    """A step of the set-up failed; the message says which and what to do."""


# -- checking a connection exactly as the pipeline reads it ---------------------------------------
@contextlib.contextmanager
def _as_airflow_connection(conn_id: str, connection: dict[str, Any]) -> Iterator[str]:
    """Expose ``connection`` to Airflow as ``AIRFLOW_CONN_<ID>`` for the duration of a check."""
    name = f"AIRFLOW_CONN_{conn_id.upper()}"
    previous = os.environ.get(name)
    os.environ[name] = json.dumps(connection)
    try:
        yield conn_id
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def check_youtube(connection: dict[str, Any]) -> str:
    """The title of the channel the connection uploads to (``channels.list(mine=true)``, 1 quota unit)."""
    with _as_airflow_connection("credentials_check_youtube", connection) as conn_id:
        client = youtube.build_client(conn_id)
        items = client.channels().list(part="snippet", mine=True).execute(num_retries=2).get("items", [])
    if not items:
        raise SetupError("the authorised Google account has no YouTube channel; create one, then run again")
    return f"{items[0]['snippet']['title']} ({items[0]['id']})"


def check_facebook(connection: dict[str, Any]) -> str:
    """The name of the Page the connection publishes to (``GET /<page-id>?fields=id,name``)."""
    with _as_airflow_connection("credentials_check_facebook", connection) as conn_id:
        client = facebook.GraphClient.from_connection(conn_id)
        page = client.get(client.page_id, fields="id,name")
    if str(page.get("id")) != str(connection["login"]):
        raise SetupError(f"the token reads Page {page.get('id')}, not {connection['login']}")
    return f"{page['name']} ({page['id']})"


# -- YouTube ---------------------------------------------------------------------------------------
def youtube_connection(
    client_secrets: str,
    *,
    open_browser: bool = True,
    port: int = 0,
    api_endpoint: str | None = None,
) -> dict[str, Any]:
    """Run the installed-app flow and return ``youtube_default`` (client id/secret + refresh token)."""
    from google_auth_oauthlib.flow import InstalledAppFlow

    try:
        flow = InstalledAppFlow.from_client_secrets_file(client_secrets, scopes=youtube.SCOPES)
    except (OSError, ValueError) as err:
        raise SetupError(f"--client-secrets {client_secrets}: {err}") from err
    config = flow.client_config
    credentials = flow.run_local_server(
        port=port,
        open_browser=open_browser,
        access_type="offline",
        prompt="consent",  # without it Google returns a refresh token only the first time
        authorization_prompt_message="Open this URL in a browser and sign in as the channel owner:\n{url}",
        success_message="Authorised; you can close this tab and return to the terminal.",
    )
    if not credentials.refresh_token:
        raise SetupError("Google returned no refresh token; revoke the app's access and run again")
    extra: dict[str, Any] = {
        "refresh_token": credentials.refresh_token,
        "token_uri": config.get("token_uri") or youtube.DEFAULT_TOKEN_URI,
    }
    if api_endpoint:
        extra["api_endpoint"] = api_endpoint
    return {
        "conn_type": "generic",
        "login": config["client_id"],
        "password": config["client_secret"],
        "extra": extra,
    }


# -- Facebook --------------------------------------------------------------------------------------
def _graph_get(endpoint: str, version: str, path: str, params: dict[str, Any], what: str) -> dict[str, Any]:
    response = requests.get(f"{endpoint.rstrip('/')}/{version}/{path}", params=params, timeout=TIMEOUT)
    payload = response.json() if response.content else {}
    if not response.ok or "error" in payload:
        error = payload.get("error", {})
        raise SetupError(
            f"{what} failed: {error.get('message') or response.text[:200]} (#{error.get('code')})"
        )
    return payload


def long_lived_user_token(
    app_id: str, app_secret: str, user_token: str, *, endpoint: str, version: str
) -> str:
    """Exchange a short-lived user token for a long-lived one (about 60 days)."""
    answer = _graph_get(
        endpoint,
        version,
        "oauth/access_token",
        {
            "grant_type": "fb_exchange_token",
            "client_id": app_id,
            "client_secret": app_secret,
            "fb_exchange_token": user_token,
        },
        "exchanging the user token",
    )
    return answer["access_token"]


def managed_pages(user_token: str, *, endpoint: str, version: str) -> list[dict[str, Any]]:
    """The Pages the user manages (``/me/accounts``, every page of results) with their Page tokens."""
    pages: list[dict[str, Any]] = []
    params: dict[str, Any] = {
        "access_token": user_token,
        "fields": "id,name,access_token,tasks",
        "limit": 100,
    }
    path = "me/accounts"
    while True:
        answer = _graph_get(endpoint, version, path, params, "listing the Pages")
        pages.extend(answer.get("data", []))
        after = answer.get("paging", {}).get("cursors", {}).get("after")
        if not answer.get("paging", {}).get("next") or not after:
            return pages
        params = {**params, "after": after}


def choose_page(pages: list[dict[str, Any]], wanted: str | None, ask: Callable[[str], str] | None) -> dict:
    """The Page named by ``wanted`` (id or exact name), the only one, or the one the person picks."""
    if not pages:
        raise SetupError("the user manages no Page (or the token lacks pages_show_list)")
    names = ", ".join(f"{p['name']} ({p['id']})" for p in pages)
    if wanted:
        for page in pages:
            if wanted in (str(page["id"]), page["name"]):
                return page
        raise SetupError(f"--page {wanted!r} is not among the Pages the user manages: {names}")
    if len(pages) == 1:
        return pages[0]
    if ask is None:
        raise SetupError(f"several Pages; choose one with --page: {names}")
    menu = "\n".join(f"  {i}. {p['name']} ({p['id']})" for i, p in enumerate(pages, 1))
    choice = ask(f"Pages you manage:\n{menu}\nPublish to which one? [1-{len(pages)}] ")
    if not choice.strip().isdigit() or not 1 <= int(choice) <= len(pages):
        raise SetupError(f"choice {choice!r}: enter a number from 1 to {len(pages)}")
    return pages[int(choice) - 1]


def facebook_connection(
    app_id: str,
    app_secret: str,
    user_token: str,
    *,
    page: str | None = None,
    endpoint: str = facebook.DEFAULT_API_ENDPOINT,
    version: str = facebook.DEFAULT_GRAPH_VERSION,
    ask: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """``facebook_default`` for the chosen Page, from a short-lived user token."""
    long_token = long_lived_user_token(app_id, app_secret, user_token, endpoint=endpoint, version=version)
    chosen = choose_page(managed_pages(long_token, endpoint=endpoint, version=version), page, ask)
    tasks = set(chosen.get("tasks") or [])
    if tasks and "CREATE_CONTENT" not in tasks:
        raise SetupError(f"Page {chosen['name']}: the user cannot publish there (tasks {sorted(tasks)})")
    extra: dict[str, Any] = {"graph_version": version}
    if endpoint.rstrip("/") != facebook.DEFAULT_API_ENDPOINT:
        extra["api_endpoint"] = endpoint.rstrip("/")
    return {
        "conn_type": "generic",
        "login": str(chosen["id"]),
        "password": chosen["access_token"],
        "extra": extra,
    }


# -- output and command line -----------------------------------------------------------------------
def render(conn_id: str, connection: dict[str, Any]) -> str:
    """The connection as JSON, as a URI, and as the ``airflow connections add`` command."""
    from airflow.models.connection import Connection

    uri = Connection(
        conn_id=conn_id,
        conn_type=connection["conn_type"],
        login=connection.get("login"),
        password=connection.get("password"),
        extra=json.dumps(connection.get("extra") or {}),
    ).get_uri()
    as_json = json.dumps(connection)
    return (
        f"# {conn_id} (contains secrets: put it in a secrets backend, never in the repository)\n"
        f"JSON: {as_json}\n"
        f"URI:  {uri}\n"
        f"airflow connections add {conn_id} --conn-json '{as_json}'\n"
    )


def main(argv: list[str] | None = None, ask: Callable[[str], str] | None = input) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m include.video_publishing.credentials", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="service", required=True)
    yt = sub.add_parser("youtube", help="OAuth installed-app flow → youtube_default")
    yt.add_argument(
        "--client-secrets", required=True, help="client_secret_*.json of a Desktop-app OAuth client"
    )
    yt.add_argument("--no-browser", action="store_true", help="print the URL instead of opening a browser")
    yt.add_argument(
        "--port", type=int, default=0, help="local port for Google's redirect (default: any free)"
    )
    yt.add_argument("--api-endpoint", help=argparse.SUPPRESS)  # local stand-ins only
    yt.add_argument("--conn-id", default="youtube_default")
    fb = sub.add_parser("facebook", help="long-lived Page token → facebook_default")
    fb.add_argument("--app-id", required=True, help="the Facebook app's id")
    fb.add_argument(
        "--app-secret", default=os.environ.get("FACEBOOK_APP_SECRET"), help="or FACEBOOK_APP_SECRET"
    )
    fb.add_argument(
        "--user-token", default=os.environ.get("FACEBOOK_USER_TOKEN"), help="or FACEBOOK_USER_TOKEN"
    )
    fb.add_argument("--page", help="Page id or exact name (asked when several and omitted)")
    fb.add_argument("--graph-version", default=facebook.DEFAULT_GRAPH_VERSION)
    fb.add_argument("--api-endpoint", default=facebook.DEFAULT_API_ENDPOINT, help=argparse.SUPPRESS)
    fb.add_argument("--conn-id", default=facebook.CONN_ID)
    args = parser.parse_args(argv)
    from google.auth.exceptions import GoogleAuthError
    from googleapiclient.errors import HttpError

    try:
        if args.service == "youtube":
            connection = youtube_connection(
                args.client_secrets,
                open_browser=not args.no_browser,
                port=args.port,
                api_endpoint=args.api_endpoint,
            )
            checked = check_youtube(connection)
        else:
            if not args.app_secret or not args.user_token:
                raise SetupError(
                    "--app-secret and --user-token (or FACEBOOK_APP_SECRET/FACEBOOK_USER_TOKEN) are required"
                )
            connection = facebook_connection(
                args.app_id,
                args.app_secret,
                args.user_token,
                page=args.page,
                endpoint=args.api_endpoint,
                version=args.graph_version,
                ask=ask if sys.stdin.isatty() else None,
            )
            checked = check_facebook(connection)
    except (SetupError, facebook.GraphError, requests.RequestException, GoogleAuthError, HttpError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"checked: {checked}", file=sys.stderr)
    print(render(args.conn_id, connection))
    return 0


if __name__ == "__main__":
    sys.exit(main())
