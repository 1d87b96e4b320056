"""Probing and verification with the bare ffmpeg binary, on generated media (devstack.media)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devstack.media import make_sting, make_talk_video, make_watermark
from include.video_publishing.media import (
    MediaError,
    audio_rms_db,
    ffmpeg_exe,
    frame_luma,
    probe,
    verify_output,
)

# lavfi's sine source has amplitude 1/8: RMS 0.125/sqrt(2) = -21.07 dBFS.
TONE_DB = -21.07


def ffmpeg(*args: str) -> bytes:
    """Run ffmpeg (errors only), returning its stdout."""
    return subprocess.run([ffmpeg_exe(), "-v", "error", *args], capture_output=True, check=True).stdout


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("media")
    pattern = ["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=3"]
    h264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    silence = ["-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo:d=3"]
    silent, mute = folder / "silent.mp4", folder / "mute.mp4"
    ffmpeg(*pattern, *silence, *h264, "-c:a", "aac", "-shortest", str(silent))
    ffmpeg(*pattern, *h264, str(mute))
    return {
        "talk": make_talk_video(folder / "talk.mp4", duration=6.0),
        "sting": make_sting(folder / "sting.mp4"),
        "watermark": make_watermark(folder / "watermark.png"),
        "silent": silent,
        "mute": mute,
    }


def test_probe_describes_generated_talk_and_sting(media):
    talk = probe(media["talk"])
    assert talk.duration == pytest.approx(6.0, abs=0.05)
    assert (talk.width, talk.height, talk.fps, talk.has_audio, talk.pix_fmt) == (
        640,
        360,
        25.0,
        True,
        "yuv420p",
    )

    sting = probe(media["sting"])
    assert sting.duration == pytest.approx(2.0, abs=0.05)
    assert (sting.width, sting.height, sting.fps, sting.has_audio) == (320, 240, 30.0, True)


def test_watermark_has_a_real_alpha_channel(media):
    info = probe(media["watermark"])
    assert (info.width, info.height, info.pix_fmt) == (120, 40, "rgba")
    rgba = ffmpeg("-i", str(media["watermark"]), "-f", "rawvideo", "-pix_fmt", "rgba", "-")
    alphas = set(rgba[3::4])
    assert 0 in alphas, "the border should be fully transparent"
    assert any(0 < alpha < 255 for alpha in alphas), "the plate should be translucent"


def test_probe_rejects_missing_and_non_media_files(tmp_path):
    with pytest.raises(MediaError, match="no such file"):
        probe(tmp_path / "absent.mp4")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n")
    with pytest.raises(MediaError, match="not a media file"):
        probe(text)


def test_ffmpeg_exe_honours_env(monkeypatch):
    monkeypatch.setenv("FFMPEG_BINARY", "/opt/custom/ffmpeg")
    assert ffmpeg_exe() == "/opt/custom/ffmpeg"
    monkeypatch.delenv("FFMPEG_BINARY")
    assert Path(ffmpeg_exe()).is_file()


def test_verify_output_accepts_a_good_file(media):
    info = verify_output(media["talk"], 6.0)
    assert info.duration == pytest.approx(6.0, abs=0.05)


def test_verify_output_rejects_wrong_duration(media):
    with pytest.raises(MediaError, match=r"duration 6\.00 s, expected 8\.00"):
        verify_output(media["talk"], 8.0)


def test_verify_output_rejects_truncated_file(media, tmp_path):
    # With +faststart (as renders are written) the header survives a cut; only a full decode notices.
    faststart = tmp_path / "faststart.mp4"
    ffmpeg("-i", str(media["talk"]), "-c", "copy", "-movflags", "+faststart", str(faststart))
    whole = faststart.read_bytes()
    assert whole.index(b"moov") < whole.index(b"mdat")
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(whole[: len(whole) * 2 // 3])
    with pytest.raises(MediaError, match="decode"):
        verify_output(truncated, 6.0)

    # Without it the index is at the end: the cut file does not even open.
    unindexed = tmp_path / "unindexed.mp4"
    unindexed.write_bytes(media["talk"].read_bytes()[:-4096])
    with pytest.raises(MediaError, match="not a media file"):
        verify_output(unindexed, 6.0)


def test_verify_output_requires_audio(media):
    with pytest.raises(MediaError, match="no audio"):
        verify_output(media["mute"], 3.0)


def test_frame_luma_sees_picture_and_region(media):
    whole = frame_luma(media["talk"], 3.0)
    assert 40 < whole < 220
    # The sting is 4:3 bars; its bottom-right corner is black in SMPTE bars, its top-left is grey.
    assert frame_luma(media["sting"], 1.0, region=(0, 0, 40, 100)) > 100
    assert frame_luma(media["sting"], 1.0, region=(290, 200, 30, 40)) < 30
    with pytest.raises(MediaError, match="no frame"):
        frame_luma(media["talk"], 30.0)


def test_audio_rms_db_measures_tone_and_silence(media):
    assert audio_rms_db(media["talk"], 2.0, 1.0) == pytest.approx(TONE_DB, abs=1.0)
    assert audio_rms_db(media["silent"], 1.0, 1.0) == -120.0
    with pytest.raises(MediaError, match="no audio"):
        audio_rms_db(media["mute"], 0.0, 1.0)


def test_probe_reads_numbers_not_text_a_title_cannot_fool_it(media, tmp_path):
    # ffmpeg -i prints metadata next to the real duration; a text scraper took this title for 99 hours
    tricky = tmp_path / "tricky.mp4"
    ffmpeg(
        "-i", str(media["talk"]), "-c", "copy", "-metadata", "title=Duration: 99:00:00.00, start", str(tricky)
    )
    info = probe(tricky)
    assert info.duration == pytest.approx(6.0, abs=0.05)
    assert (info.width, info.height, info.fps) == (640, 360, 25.0)


def test_probe_streams_gives_codec_parameters_and_keyframes(media):
    from include.video_publishing.probe import avcc_parameter_sets, probe_streams, scan_packets

    info = probe_streams(media["talk"])
    video = info.video
    assert (video.codec, video.width, video.height, video.pix_fmt) == ("h264", 640, 360, "yuv420p")
    assert video.fps == 25
    assert video.frame_ticks * video.fps * video.time_base == 1
    assert info.has_audio
    assert info.audio_codec == "aac"
    length_size, sets = avcc_parameter_sets(info.avcc)
    assert length_size == 4
    assert [s[0] & 0x1F for s in sets] == [7, 8]  # one SPS, one PPS
    packets = scan_packets(media["talk"], 0.0, 5.0)
    assert packets[0].keyframe
    assert packets[0].idr
    assert len({p.pts for p in packets}) == len(packets) >= 125
