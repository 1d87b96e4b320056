"""Vega-Lite specs of every chart, built with Altair; the page renders them with the vendored vega-embed.

Data is inlined in the spec (the pages are small summaries), so a chart needs no further request.
"""

from __future__ import annotations

import json
from typing import Any

import altair as alt
from markupsafe import Markup

from include.ui_views.summaries import CHANGE_KINDS
from include.ui_views.talks import STATUS_COLOURS, STATUSES

CLASS_ORDER = ["Common", "Uncommon", "Rare", "Epic", "Legendary"]
KIND_COLOURS = ["#1e88e5", "#7e57c2", "#e53935", "#fb8c00", "#8d6e63", "#fdd835"]
WIDTH = "container"
PLACEHOLDER = alt.NamedData(name="rows")


def embed(spec: dict[str, Any]) -> Markup:
    """The spec as JSON safe to put inside ``<script type="application/json">``."""
    return Markup(json.dumps(spec, separators=(",", ":")).replace("</", "<\\/"))  # noqa: S704 (escaped JSON)


def _spec(chart: alt.TopLevelMixin, values: list[dict[str, Any]]) -> dict[str, Any]:
    """The chart's spec with ``values`` as its data. Charts are built on a named placeholder and the
    rows put in afterwards: Altair would otherwise walk every row through its schema (≈ 3 s for 5,000)."""
    spec = chart.configure_view(stroke=None).to_dict(validate=False)
    spec["data"] = {"values": values}
    spec.pop("datasets", None)
    return spec


def status_counts(counts: dict[str, int]) -> dict[str, Any]:
    """Talks per status, in the pipeline's order and colours."""
    data = [{"status": s, "talks": counts.get(s, 0)} for s in STATUSES]
    chart = (
        alt.Chart(PLACEHOLDER)
        .mark_bar()
        .encode(
            x=alt.X("talks:Q", title="talks", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("status:N", sort=list(STATUSES), title=None),
            color=alt.Color(
                "status:N",
                scale=alt.Scale(domain=list(STATUSES), range=[STATUS_COLOURS[s] for s in STATUSES]),
                legend=None,
            ),
            tooltip=["status:N", "talks:Q"],
        )
        .properties(width=WIDTH, height=160)
    )
    return _spec(chart, data)


def talk_timeline(events: list[dict[str, str]]) -> dict[str, Any]:
    """One mark per dated event of a talk (statuses, emails, YouTube, errors) on a time axis."""
    chart = (
        alt.Chart(PLACEHOLDER)
        .mark_point(filled=True, size=120)
        .encode(
            x=alt.X(
                "at:T", title="UTC", axis=alt.Axis(format="%d %b %H:%M:%S", labelOverlap=True, tickCount=6)
            ),
            y=alt.Y("kind:N", title=None, sort=["status", "youtube", "email", "error"]),
            color=alt.Color("kind:N", legend=None),
            tooltip=["at:T", "kind:N", "what:N"],
        )
        .properties(width=WIDTH, height=140)
    )
    return _spec(chart, events)


def composition_by_split(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Frames per split, stacked by class."""
    chart = (
        alt.Chart(PLACEHOLDER)
        .mark_bar()
        .encode(
            x=alt.X("sum(frames):Q", title="frames"),
            y=alt.Y("split:N", sort=["train", "validation", "test"], title=None),
            color=alt.Color("class:N", sort=CLASS_ORDER, title="class"),
            order=alt.Order("class:N"),
            tooltip=["split:N", "class:N", alt.Tooltip("sum(frames):Q", title="frames", format=",")],
        )
        .properties(width=WIDTH, height=120)
    )
    return _spec(chart, rows)


def composition_by_episode(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Frames per episode (one bar each) and class, one column per split, with a season picker."""
    seasons = sorted({r["season"] for r in rows})
    season = alt.param(
        name="season",
        value="all",
        bind=alt.binding_select(options=["all", *seasons], name="season "),
    )
    chart = (
        alt.Chart(PLACEHOLDER)
        .mark_bar()
        .encode(
            y=alt.Y("episode:N", title=None),
            x=alt.X("sum(frames):Q", title="frames"),
            color=alt.Color("class:N", sort=CLASS_ORDER, title="class"),
            order=alt.Order("class:N"),
            tooltip=[
                "episode:N",
                "split:N",
                "class:N",
                alt.Tooltip("sum(frames):Q", title="frames", format=","),
            ],
        )
        .add_params(season)
        .transform_filter("season == 'all' || datum.season == season")
        .properties(width=300, height={"step": 16})
        .facet(column=alt.Column("split:N", sort=["train", "validation", "test"], title=None))
        .resolve_scale(x="independent")
    )
    return _spec(chart, rows)


def changes_over_time(rows: list[dict[str, Any]], episodes: list[str]) -> dict[str, Any]:
    """Copied, moved, deleted, missing, invalid and held frames of each of the last runs, with an
    episode picker."""
    episode = alt.param(
        name="episode",
        value="all",
        bind=alt.binding_select(options=["all", *episodes], name="episode "),
    )
    chart = (
        alt.Chart(PLACEHOLDER)
        .mark_bar()
        .encode(
            x=alt.X(
                "at:O",
                title="run (UTC)",
                axis=alt.Axis(labelAngle=-40, labelExpr="replace(slice(datum.label, 5, 19), 'T', ' ')"),
            ),
            y=alt.Y("sum(count):Q", title="frames"),
            color=alt.Color(
                "kind:N", scale=alt.Scale(domain=list(CHANGE_KINDS), range=KIND_COLOURS), title="change"
            ),
            tooltip=["run_id:N", "kind:N", alt.Tooltip("sum(count):Q", title="frames", format=",")],
        )
        .add_params(episode)
        .transform_filter("episode == 'all' || datum.episode == episode")
        .properties(width=WIDTH, height=220)
    )
    return _spec(chart, rows)


def run_changes_by_episode(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One run's changes per episode."""
    chart = (
        alt.Chart(PLACEHOLDER)
        .mark_bar()
        .encode(
            x=alt.X("episode:N", title=None, axis=alt.Axis(labelAngle=-60)),
            y=alt.Y("sum(count):Q", title="frames"),
            color=alt.Color(
                "kind:N", scale=alt.Scale(domain=list(CHANGE_KINDS), range=KIND_COLOURS), title="change"
            ),
            tooltip=["episode:N", "kind:N", alt.Tooltip("sum(count):Q", title="frames", format=",")],
        )
        .properties(width=WIDTH, height=200)
    )
    return _spec(chart, rows)
