"""The render engine: the ffmpeg command it builds, what it refuses, and real renders of generated talks."""

from __future__ import annotations

import logging
import re
import subprocess
from pathlib import Path

import pytest

from devstack.media import make_sting, make_talk_video, make_watermark
from include.video_publishing import render
from include.video_publishing.media import MediaError, MediaInfo, audio_rms_db, ffmpeg_exe, frame_luma, probe
from include.video_publishing.render import (
    RenderError,
    RenderSpec,
    build_ffmpeg_command,
    render_talk,
)

TALK = MediaInfo(duration=600.0, width=1280, height=720, fps=25.0, has_audio=True, pix_fmt="yuv420p")
STING = MediaInfo(duration=2.0, width=320, height=240, fps=30.0, has_audio=True, pix_fmt="yuv420p")
CUT = RenderSpec(start=4.0, end=16.0, fade_seconds=3.0)
STING_SECONDS = 2.0
WATERMARK = (640 - 16 - 120, 360 - 16 - 40, 120, 40)  # x, y, w, h of the overlay, bottom right
DARK = 12.0
QUIETER_DB = 15.0


def option(command: list[str], name: str) -> str:
    """The value following ``name`` in an argv (the first occurrence)."""
    return command[command.index(name) + 1]


def graph_chain(graph: str, label: str) -> str:
    """The filter_complex chain that ends in ``[label]``."""
    return next(chain for chain in graph.split(";") if chain.endswith(f"[{label}]"))


# --- the command ------------------------------------------------------------------------------


def test_command_seeks_on_input_and_cuts_with_t():
    spec = RenderSpec(start=480.0, end=540.0)
    command = build_ffmpeg_command(Path("talk.mp4"), Path("out.mp4"), spec, TALK, ffmpeg="ffmpeg")
    assert command[0] == "ffmpeg"
    assert command.index("-ss") < command.index("-i") == command.index("-t") + 2
    assert option(command, "-ss") == "480.000"
    assert option(command, "-t") == "60.000"
    assert "-to" not in command
    assert command.count("-i") == 1
    assert command[-1] == "out.mp4"


def test_command_fades_are_relative_to_the_cut():
    spec = RenderSpec(start=480.0, end=540.0, fade_seconds=3.0)
    graph = option(
        build_ffmpeg_command(Path("t.mp4"), Path("o.mp4"), spec, TALK, "ffmpeg"), "-filter_complex"
    )
    video, audio = graph_chain(graph, "v"), graph_chain(graph, "a")
    assert "fade=t=in:st=0:d=3" in video
    assert "fade=t=out:st=57.000:d=3" in video
    assert "afade=t=in:st=0:d=3" in audio
    assert "afade=t=out:st=57.000:d=3" in audio
    assert not re.search(r"st=(480|537)", graph), "fades must not use timestamps of the source"


def test_command_encodes_per_youtube_recommendations():
    command = build_ffmpeg_command(Path("t.mp4"), Path("o.mp4"), CUT, TALK, "ffmpeg", threads=2)
    expected = {
        "-c:v": "libx264",
        "-profile:v": "high",
        "-pix_fmt": "yuv420p",
        "-preset": "veryfast",
        "-g": "12",
        "-bf": "2",
        "-flags": "+cgop",
        "-c:a": "aac",
        "-profile:a": "aac_low",
        "-ar": "48000",
        "-ac": "2",
        "-movflags": "+faststart",
        "-threads": "2",
        "-progress": "pipe:1",
        "-f": "mp4",
    }
    assert {name: option(command, name) for name in expected} == expected
    thirty_fps = MediaInfo(duration=600.0, width=1920, height=1080, fps=30.0, has_audio=True)
    thirty = build_ffmpeg_command(Path("t.mp4"), Path("o.mp4"), CUT, thirty_fps, "ffmpeg")
    assert option(thirty, "-g") == "15"
    assert "-threads" not in thirty


def test_command_with_sting_and_watermark_is_one_graph(tmp_path):
    sting, logo = tmp_path / "sting.mp4", tmp_path / "logo.png"
    sting.touch()
    logo.touch()
    spec = RenderSpec(4.0, 16.0, sting=sting, watermark=logo)
    command = build_ffmpeg_command(Path("t.mp4"), Path("o.mp4"), spec, TALK, "ffmpeg", sting_info=STING)
    assert [command[i + 1] for i, arg in enumerate(command) if arg == "-i"] == [
        "t.mp4",
        str(sting),
        str(logo),
    ]
    graph = option(command, "-filter_complex")
    sting_video, sting_audio = graph_chain(graph, "sv"), graph_chain(graph, "sa")
    assert sting_video.startswith("[1:v]scale=1280:720:force_original_aspect_ratio=decrease,pad=1280:720")
    assert "setsar=1" in sting_video
    assert "fps=25" in sting_video
    assert "fade" not in sting_video
    assert sting_audio.startswith("[1:a:0]aresample=48000")
    assert "channel_layouts=stereo" in sting_audio
    talk_video = graph_chain(graph, "tv")
    assert talk_video.startswith("[0:v][wm]overlay=")
    assert talk_video.index("overlay") < talk_video.index("fade=t=in:st=0:d=3")
    assert "afade=t=in:st=0:d=3" in graph_chain(graph, "ta")
    assert graph_chain(graph, "wm").startswith("[2:v]")
    assert graph.endswith("[sv][sa][tv][ta]concat=n=2:v=1:a=1[v][a]")
    assert command.count("-filter_complex") == 1


def test_command_fills_missing_audio_with_silence(tmp_path):
    mute_talk = MediaInfo(duration=60.0, width=640, height=360, fps=25.0, has_audio=False)
    mute_sting = MediaInfo(duration=2.0, width=320, height=240, fps=30.0, has_audio=False)
    (tmp_path / "sting.mp4").touch()
    spec = RenderSpec(0.0, 10.0, sting=tmp_path / "sting.mp4")
    command = build_ffmpeg_command(
        Path("t.mp4"), Path("o.mp4"), spec, mute_talk, "ffmpeg", sting_info=mute_sting
    )
    graph = option(command, "-filter_complex")
    assert "[0:a" not in graph
    assert "[1:a" not in graph
    assert graph_chain(graph, "ta").startswith("anullsrc=r=48000:cl=stereo:d=10.000")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (RenderSpec(start=-1.0, end=10.0), "start -1.000 s is negative"),
        (RenderSpec(start=10.0, end=10.0), "end 10.000 s is not after start 10.000 s"),
        (RenderSpec(start=20.0, end=10.0), "end 10.000 s is not after start 20.000 s"),
        (
            RenderSpec(start=590.0, end=600.5),
            r"end 600.500 s is beyond the end of the recording \(600.000 s\)",
        ),
        (
            RenderSpec(start=0.0, end=5.0, fade_seconds=3.0),
            "fade of 3.0 s is longer than half the 5.000 s clip",
        ),
        (RenderSpec(start=0.0, end=5.0, fade_seconds=-1.0), "fade_seconds -1.0 is negative"),
        (
            RenderSpec(start=0.0, end=50.0, sting=Path("/nonexistent/sting.mp4")),
            "sting file .* does not exist",
        ),
    ],
)
def test_command_rejects_impossible_specs(spec, message):
    with pytest.raises(ValueError, match=message):
        build_ffmpeg_command(Path("t.mp4"), Path("o.mp4"), spec, TALK, "ffmpeg")


def test_command_rejects_bad_thread_count():
    with pytest.raises(ValueError, match="threads must be at least 1, not 0"):
        build_ffmpeg_command(Path("t.mp4"), Path("o.mp4"), CUT, TALK, "ffmpeg", threads=0)


def test_command_accepts_cut_to_the_very_end_and_no_fade():
    spec = RenderSpec(start=590.0, end=600.0, fade_seconds=0)
    graph = option(
        build_ffmpeg_command(Path("t.mp4"), Path("o.mp4"), spec, TALK, "ffmpeg"), "-filter_complex"
    )
    assert "fade" not in graph


# --- real renders -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("render-media")
    return {
        "talk": make_talk_video(folder / "talk.mp4", duration=20.0),
        "sting": make_sting(folder / "sting.mp4", duration=STING_SECONDS),
        "watermark": make_watermark(folder / "watermark.png"),
        "out": folder,
    }


@pytest.fixture(scope="module")
def plain(media) -> tuple[render.RenderResult, list[tuple[float, float, float]]]:
    """The talk cut 4–16 s with 3 s fades, no sting or watermark; progress reports collected."""
    reports: list[tuple[float, float, float]] = []
    result = render_talk(
        media["talk"], media["out"] / "plain.mp4", CUT, progress=lambda *report: reports.append(report)
    )
    return result, reports


@pytest.fixture(scope="module")
def dressed(media) -> render.RenderResult:
    """The same cut with the sting in front and the watermark over the talk."""
    spec = RenderSpec(
        CUT.start, CUT.end, CUT.fade_seconds, sting=media["sting"], watermark=media["watermark"]
    )
    return render_talk(media["talk"], media["out"] / "dressed.mp4", spec, threads=2)


def stream_summary(path: Path) -> str:
    return subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True, check=False
    ).stderr


KEYFRAME_INFO = ["-map", "0:v", "-vf", "showinfo", "-f", "null", "-"]


def keyframe_times(path: Path) -> list[float]:
    result = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-skip_frame", "nokey", "-i", str(path), *KEYFRAME_INFO],
        capture_output=True,
        text=True,
        check=True,
    )
    return [float(t) for t in re.findall(r"pts_time:([\d.]+)", result.stderr)]


def test_plain_render_has_the_cut_duration_and_youtube_format(plain):
    result, _ = plain
    info = probe(result.output)
    assert result.duration == pytest.approx(12.0)
    assert info.duration == pytest.approx(12.0, abs=0.1)
    assert (info.width, info.height, info.fps) == (640, 360, 25.0)
    summary = stream_summary(result.output)
    assert "Video: h264 (High)" in summary
    assert "yuv420p" in summary
    assert re.search(r"Audio: aac \(LC\).*48000 Hz, stereo", summary)
    data = result.output.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat"), "+faststart puts the index first"
    gaps = [
        b - a for a, b in zip(keyframe_times(result.output), keyframe_times(result.output)[1:], strict=False)
    ]
    assert gaps
    assert max(gaps) <= 12 / 25 + 1e-6, "a keyframe at least every half second"
    assert not list(result.output.parent.glob("*.part"))


def test_plain_render_fades_picture_in_and_out(plain, media):
    result, _ = plain
    assert frame_luma(result.output, 0.0) < DARK
    assert frame_luma(result.output, 12.0 - 1 / 25) < DARK
    middle = frame_luma(result.output, 6.0)
    assert middle > 40
    # The middle is the source picture at the same point of the recording, untouched by the fades.
    assert middle == pytest.approx(frame_luma(media["talk"], CUT.start + 6.0), abs=4)
    assert frame_luma(result.output, 1.5) < middle * 0.7


def test_plain_render_fades_sound_in_and_out(plain, media):
    result, _ = plain
    middle = audio_rms_db(result.output, 5.0, 2.0)
    assert middle == pytest.approx(audio_rms_db(media["talk"], CUT.start + 5.0, 2.0), abs=1.0)
    assert audio_rms_db(result.output, 0.0, 0.25) < middle - QUIETER_DB
    assert audio_rms_db(result.output, 11.75, 0.25) < middle - QUIETER_DB


def test_render_reports_progress(plain):
    result, reports = plain
    assert reports, "the progress callback was never called"
    done = [report[0] for report in reports]
    assert done == sorted(done)
    assert reports[-1][0] == reports[-1][1] == pytest.approx(12.0)
    assert all(speed >= 0 for _, _, speed in reports)
    assert result.seconds > 0
    assert result.speed == pytest.approx(result.duration / result.seconds)


def test_render_logs_progress_by_default(media, caplog):
    caplog.set_level(logging.INFO, logger=render.__name__)
    render_talk(media["talk"], media["out"] / "logged.mp4", RenderSpec(0.0, 4.0, fade_seconds=1.0))
    assert any(
        re.fullmatch(r"render 100% \(4\.0/4\.0 s\) speed [\d.]+x", r.getMessage()) for r in caplog.records
    )


def test_dressed_render_prepends_sting_in_the_talks_format(dressed):
    info = probe(dressed.output)
    assert dressed.duration == pytest.approx(12.0 + STING_SECONDS)
    assert info.duration == pytest.approx(12.0 + STING_SECONDS, abs=0.1)
    assert (info.width, info.height, info.fps, info.pix_fmt) == (640, 360, 25.0, "yuv420p")
    assert "[SAR 1:1" in stream_summary(dressed.output)
    # The 4:3 sting is scaled to 480x360 and padded with black pillars to the 16:9 talk frame.
    assert frame_luma(dressed.output, 1.0, region=(0, 0, 70, 360)) < DARK
    assert frame_luma(dressed.output, 1.0, region=(90, 0, 100, 200)) > 100
    assert audio_rms_db(dressed.output, 0.5, 1.0) > -30, "the sting keeps its sound"


def test_dressed_render_fades_the_talk_after_the_sting(dressed, plain):
    plain_result, _ = plain
    assert frame_luma(dressed.output, STING_SECONDS) < DARK + 20  # only the watermark plate shows
    assert frame_luma(dressed.output, STING_SECONDS + 12.0 - 1 / 25) < DARK + 20
    middle = audio_rms_db(dressed.output, STING_SECONDS + 5.0, 2.0)
    assert audio_rms_db(dressed.output, STING_SECONDS + 0.02, 0.25) < middle - QUIETER_DB
    assert audio_rms_db(dressed.output, STING_SECONDS + 11.75, 0.25) < middle - QUIETER_DB
    # Away from the watermark the talk is the same picture as the plain render.
    assert frame_luma(dressed.output, STING_SECONDS + 6.0, region=(0, 0, 320, 180)) == pytest.approx(
        frame_luma(plain_result.output, 6.0, region=(0, 0, 320, 180)), abs=4
    )


def test_dressed_render_overlays_the_watermark(dressed, plain):
    plain_result, _ = plain
    plate = (WATERMARK[0] + 8, WATERMARK[1] + 8, WATERMARK[2] - 16, WATERMARK[3] - 16)
    for at in (4.0, 6.0, 8.0):
        marked = frame_luma(dressed.output, STING_SECONDS + at, region=plate)
        bare = frame_luma(plain_result.output, at, region=plate)
        assert marked > bare + 30, f"no translucent white plate at {at} s ({marked:.0f} vs {bare:.0f})"


def test_render_without_audio_gets_a_silent_stereo_track(media, tmp_path):
    mute = tmp_path / "mute.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(media["talk"]), "-an", "-c", "copy", "-t", "6", str(mute)],
        check=True,
    )
    result = render_talk(mute, tmp_path / "out.mp4", RenderSpec(1.0, 5.0, fade_seconds=1.0))
    info = probe(result.output)
    assert info.has_audio
    assert info.duration == pytest.approx(4.0, abs=0.1)
    assert audio_rms_db(result.output, 1.0, 2.0) == -120.0


def test_silent_sting_keeps_the_talk_in_sync(media, tmp_path):
    mute_sting = tmp_path / "sting.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(media["sting"]), "-an", "-c", "copy", str(mute_sting)],
        check=True,
    )
    result = render_talk(
        media["talk"], tmp_path / "out.mp4", RenderSpec(4.0, 10.0, fade_seconds=1.0, sting=mute_sting)
    )
    assert probe(result.output).duration == pytest.approx(6.0 + STING_SECONDS, abs=0.1)
    assert audio_rms_db(result.output, 0.2, 1.5) == -120.0
    # The talk's sound starts with its picture, right after the sting.
    assert audio_rms_db(result.output, STING_SECONDS + 2.0, 2.0) == pytest.approx(
        audio_rms_db(media["talk"], 6.0, 2.0), abs=1.0
    )


def test_validation_happens_before_ffmpeg_runs(media, tmp_path, monkeypatch):
    runs: list[list[str]] = []
    monkeypatch.setattr(render, "run_ffmpeg", lambda command, *_: runs.append(command) or 0.0)
    output = tmp_path / "never.mp4"
    with pytest.raises(ValueError, match=r"beyond the end of the recording \(20.000 s\)"):
        render_talk(media["talk"], output, RenderSpec(start=10.0, end=25.0))
    assert runs == []
    assert not output.exists()


def test_unreadable_inputs_are_bad_input_found_before_rendering(media, tmp_path, monkeypatch):
    runs: list[list[str]] = []
    monkeypatch.setattr(render, "run_ffmpeg", lambda command, *_: runs.append(command) or 0.0)
    not_an_image = tmp_path / "logo.png"
    not_an_image.write_text("not an image")
    with pytest.raises(MediaError, match=r"logo\.png: not a media file"):
        render_talk(media["talk"], tmp_path / "out.mp4", RenderSpec(2.0, 8.0, watermark=not_an_image))
    with pytest.raises(ValueError, match=r"notes\.mp4: not a media file"):
        render_talk(not_an_image.rename(tmp_path / "notes.mp4"), tmp_path / "out.mp4", RenderSpec(2.0, 8.0))
    assert runs == []


def test_failed_ffmpeg_raises_with_its_message_and_leaves_nothing(media, tmp_path, monkeypatch):
    # An encoder that dies mid-way (disk full, killed): render_talk must surface ffmpeg's last words.
    broken = tmp_path / "ffmpeg"
    broken.write_text(
        "#!/bin/sh\necho 'frame=1 fps=0.0' >&2\necho 'Error writing trailer: No space left' >&2\nexit 1\n"
    )
    broken.chmod(0o755)
    monkeypatch.setattr(render, "ffmpeg_exe", lambda: str(broken))
    output = tmp_path / "out" / "talk.mp4"
    with pytest.raises(RenderError, match=r"ffmpeg exited with 1:\n(.|\n)*No space left"):
        render_talk(media["talk"], output, RenderSpec(2.0, 8.0, fade_seconds=1.0))
    assert list(output.parent.iterdir()) == []


def test_truncated_source_fails_verification(media, tmp_path):
    # A partial upload: the header (moved to the front) survives, the picture data stops early.
    faststart = tmp_path / "faststart.mp4"
    subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-i",
            str(media["talk"]),
            "-c",
            "copy",
            "-movflags",
            "+faststart",
            str(faststart),
        ],
        check=True,
    )
    data = faststart.read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 2])
    output = tmp_path / "talk.mp4"
    with pytest.raises(RenderError, match=r"did not verify: .*duration [\d.]+ s, expected 14\.00"):
        render_talk(truncated, output, RenderSpec(4.0, 18.0, fade_seconds=1.0))
    assert not output.exists()
    assert not list(tmp_path.glob("*.part"))
