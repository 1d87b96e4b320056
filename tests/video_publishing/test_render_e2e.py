"""The render step end to end on the stand-ins: which path a talk takes, what crosses the network, and the
frames that land in the library (numbered talks, see devstack.media)."""

from __future__ import annotations

import pytest

from devstack.media import frame_numbers, make_numbered_talk
from include.video_publishing.render import RenderSpec
from include.video_publishing.smart_render import plan_render, render_smart
from include.video_publishing.source_range import DOWNLOAD, RANGED, fetch_cut
from include.video_publishing.talk_render import SourceError, blame_source
from tests.video_publishing.conftest import PUBLISH

FPS = 25
TALK = "22222222-aaaa-4bbb-8ccc-000000000001"
SECOND = "22222222-aaaa-4bbb-8ccc-000000000002"
LONG = "22222222-aaaa-4bbb-8ccc-000000000003"
SPEAKERS = [("Ada Lovelace", "ada@example.org")]


def _talk(uuid: str, title: str) -> dict[str, str]:
    return {"UUID": uuid, "TITLE": title, "DESCRIPTION": "A talk.", "SPEAKERS": "Ada Lovelace"}


def _readable(frames, skip: int = 0) -> list[tuple[int, int]]:
    return [(j, n) for j, (_, n) in enumerate(frames[skip:]) if n is not None]


def test_smart_path_with_cached_sting(make_conference, run_dag, task_states, tmp_path):
    conference = make_conference(
        talks=[_talk(TALK, "Smart"), _talk(SECOND, "Smart again")],
        speakers=SPEAKERS, publisher="library", branding=True,
    )  # fmt: skip
    conference.entry.pop("watermark")
    conference.apply()
    s3 = conference.stack.boto3_client("s3")
    source = make_numbered_talk(tmp_path / "talk.mp4", duration=30.0, fps=FPS, gop_seconds=2.0)
    for uuid in (TALK, SECOND):
        s3.upload_file(str(source), conference.raw_bucket, f"room1_{uuid}_000002_000026.mp4")
        run = run_dag(
            PUBLISH, conf={"bucket": conference.raw_bucket, "key": f"room1_{uuid}_000002_000026.mp4"}
        )
        assert run.state == "success", task_states(run)
        [record] = conference.ledger(uuid)
        assert record["render"]["path"] == "smart"
        assert "closed GOPs" in record["render"]["reason"]
        assert record["render"]["bytes_read"] <= record["render"]["object_size"]
        states = task_states(run)
        assert states["join_chunks"] == "success"
        assert "render_chunk" not in states or states["render_chunk"] == "skipped"
    video = tmp_path / "library.mp4"
    s3.download_file(conference.library_bucket, f"{conference.slug}/{TALK}.mp4", str(video))
    frames = frame_numbers(video)
    sting_frames = 2 * FPS
    assert len(frames) == sting_frames + 24 * FPS
    readable = _readable(frames, sting_frames)
    assert all(n == 2 * FPS + j for j, n in readable), readable[:5]
    assert readable[0][0] <= 10
    assert readable[-1][0] >= 24 * FPS - 11
    # the sting was encoded once for both talks and kept in the library bucket's cache
    cached = s3.list_objects_v2(
        Bucket=conference.library_bucket, Prefix=f"_talkbot/stings/{conference.slug}/"
    )
    assert len(cached.get("Contents", [])) == 1


def test_watermarked_long_talk_is_rendered_in_mapped_chunks(make_conference, run_dag, task_states, tmp_path):
    conference = make_conference(
        talks=[_talk(LONG, "Chunked")], speakers=SPEAKERS, publisher="library", branding=True,
        chunk_minutes=0.25,
    )  # fmt: skip
    s3 = conference.stack.boto3_client("s3")
    source = make_numbered_talk(tmp_path / "long.mp4", duration=44.0, fps=FPS, gop_seconds=2.0)
    key = f"room1_{LONG}_000002_000042.mp4"
    s3.upload_file(str(source), conference.raw_bucket, key)
    run = run_dag(PUBLISH, conf={"bucket": conference.raw_bucket, "key": key})
    states = task_states(run)
    assert run.state == "success", states
    chunk_tasks = sorted(name for name in states if name.startswith("render_chunk["))
    assert len(chunk_tasks) == 3, states  # 40 s in chunks of about 15 s
    assert all(states[name] == "success" for name in chunk_tasks)
    [record] = conference.ledger(LONG)
    assert record["render"]["path"] == "chunked"
    assert "a watermark is configured" in record["render"]["reason"]
    assert record["render"]["chunks"] == 3
    video = tmp_path / "library.mp4"
    s3.download_file(conference.library_bucket, f"{conference.slug}/{LONG}.mp4", str(video))
    frames = frame_numbers(video)
    sting_frames = 2 * FPS
    assert len(frames) == sting_frames + 40 * FPS
    readable = _readable(frames, sting_frames)
    assert all(n == 2 * FPS + j for j, n in readable), readable[:5]
    assert readable[-1][0] >= 40 * FPS - 11
    left = s3.list_objects_v2(Bucket=conference.library_bucket, Prefix="_talkbot/chunks/")
    assert "Contents" not in left, "chunk parts are deleted after the join"
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        labels = {
            ti.rendered_map_index
            for ti in session.query(TaskInstance).filter(
                TaskInstance.run_id == run.run_id, TaskInstance.task_id == "render_chunk"
            )
        }
    assert all(label and label.startswith("chunk ") for label in labels), labels


# --- ranged reads -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """A 90 s talk with its index at the end (as cameras write) and a copy moved to the front."""
    folder = tmp_path_factory.mktemp("ranged")
    return make_numbered_talk(folder / "recording.mp4", duration=90.0, fps=FPS, gop_seconds=2.0)


def test_ranged_read_fetches_the_index_and_the_cut_only(stack, unique_name, recording, tmp_path):
    s3 = stack.boto3_client("s3")
    bucket = f"{unique_name}-ranged"
    s3.create_bucket(Bucket=bucket)
    s3.upload_file(str(recording), bucket, "session.mp4")
    copy = fetch_cut(s3, bucket, "session.mp4", tmp_path / "source.mp4", start=40.0, end=52.0)
    assert copy.mode == RANGED
    size = recording.stat().st_size
    assert copy.object_size == size
    assert copy.bytes_read < size * 0.35, (copy.bytes_read, size)  # 12 s + margins of 90 s
    # the sparse copy renders exactly what the whole file renders
    spec = RenderSpec(40.0, 52.0, 2.0)
    plan = plan_render(copy.path, spec)
    assert plan.path == "smart", plan.reason
    out = render_smart(copy.path, tmp_path / "cut.mp4", spec, plan).output
    frames = frame_numbers(out)
    assert len(frames) == 12 * FPS
    assert all(n == 40 * FPS + j for j, n in _readable(frames))


def test_ranged_read_downloads_whole_when_the_container_is_not_mp4(stack, unique_name, recording, tmp_path):
    import subprocess

    from include.video_publishing.media import ffmpeg_exe

    mkv = tmp_path / "recording.mkv"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(recording), "-c", "copy", str(mkv)], check=True)
    s3 = stack.boto3_client("s3")
    bucket = f"{unique_name}-mkv"
    s3.create_bucket(Bucket=bucket)
    s3.upload_file(str(mkv), bucket, "session.mp4")
    copy = fetch_cut(s3, bucket, "session.mp4", tmp_path / "source.mp4", start=40.0, end=52.0)
    assert copy.mode == DOWNLOAD
    assert "not" in copy.reason
    assert copy.path.read_bytes() == mkv.read_bytes()


def test_corrupt_upload_is_blamed_on_the_source(recording, tmp_path):
    """Garbage in the middle of the cut: the render fails verification, and the upload is to blame."""
    broken = tmp_path / "broken.mp4"
    data = bytearray(recording.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 200_000] = bytes(200_000)
    broken.write_bytes(bytes(data))
    spec = RenderSpec(30.0, 60.0, 2.0)
    plan = plan_render(broken, spec)
    with pytest.raises(SourceError, match="does not decode cleanly") as caught:
        blame_source(lambda: render_smart(broken, tmp_path / "out.mp4", spec, plan), broken, spec)
    assert isinstance(caught.value, ValueError), "a ValueError: the task fails without retries"
