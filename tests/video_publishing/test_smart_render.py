"""Smart render against full render on talks whose frames show their own number (devstack.media).

An off-by-one cut shows up as a wrong number on a frame; a shifted sound as a beep away from its
frame; a bad joint as a decode error, wrong parameters, or a browser that stops in the middle.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import threading
import warnings
from fractions import Fraction
from pathlib import Path

import av
import pytest

from devstack.media import beep_onsets, frame_numbers, make_numbered_talk, make_sting, make_watermark
from include.video_publishing.media import audio_rms_db, ffmpeg_exe, frame_luma
from include.video_publishing.probe import avcc_parameter_sets, nal_units, probe_streams
from include.video_publishing.render import RenderSpec, render_talk
from include.video_publishing.smart_render import FULL, SMART, encode_sting, plan_render, render_smart

FPS = 25
CUT = RenderSpec(start=4.0, end=30.0, fade_seconds=3.0)
FIRST = int(CUT.start * FPS)  # number shown by the cut's first frame
FRAMES = int((CUT.end - CUT.start) * FPS)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    """A 40 s talk with 5 s closed GOPs and B-frames, and a sting in another format."""
    folder = tmp_path_factory.mktemp("smart")
    return {
        "talk": make_numbered_talk(folder / "talk.mp4", duration=40.0, fps=FPS, gop_seconds=5.0, bframes=2),
        "sting": make_sting(folder / "sting.mp4", duration=2.0),
        "out": folder,
    }


@pytest.fixture(scope="module")
def smart(media) -> Path:
    plan = plan_render(media["talk"], CUT)
    return render_smart(media["talk"], media["out"] / "smart.mp4", CUT, plan).output


@pytest.fixture(scope="module")
def full(media) -> Path:
    return render_talk(media["talk"], media["out"] / "full.mp4", CUT).output


@pytest.fixture(scope="module")
def with_sting(media) -> tuple[Path, int]:
    """The smart render with the sting encoded to the talk's parameters in front; (file, sting frames)."""
    plan = plan_render(media["talk"], CUT)
    sting = encode_sting(media["sting"], media["out"] / "sting-encoded.mp4", plan.params)
    result = render_smart(media["talk"], media["out"] / "sting.mp4", CUT, plan, sting=sting)
    return result.output, sting[1]


def assert_frame_exact(frames: list[tuple[float, int | None]], first: int, count: int, skip: int = 0) -> None:
    """Output frame ``skip + j`` shows source frame ``first + j`` for every readable frame, and no more."""
    talk = frames[skip:]
    assert len(talk) == count, f"{len(talk)} frames, expected {count}"
    wrong = [(j, n) for j, (_, n) in enumerate(talk) if n is not None and n != first + j]
    assert not wrong, f"frames showing the wrong source frame (index, number): {wrong[:5]}"
    readable = [j for j, (_, n) in enumerate(talk) if n is not None]
    # Only the darkest frames of the fades are unreadable; both ends are pinned by readable frames.
    assert readable[0] <= 10
    assert readable[-1] >= count - 11
    times = [t for t, _ in talk]
    assert times == pytest.approx([times[0] + j / FPS for j in range(count)], abs=1e-3)


def assert_in_sync(path: Path, offset_frames: int = 0) -> None:
    """Every beep (source second k, frame k*FPS) starts within one frame of that frame's display time."""
    shown = {n: t for t, n in frame_numbers(path) if n is not None}
    onsets = beep_onsets(path)
    checked = 0
    for onset in onsets:
        frame = FIRST + round(onset * FPS) - offset_frames
        if frame % FPS or frame not in shown:
            continue
        assert abs(onset - shown[frame]) <= 1 / FPS, (
            f"beep of frame {frame} at {onset:.3f} s, frame at {shown[frame]:.3f} s"
        )
        checked += 1
    assert checked >= 15, f"only {checked} beeps matched frames ({onsets})"


def decode_errors(path: Path) -> str:
    result = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0", "-f", "null", "-"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return result.stderr.strip() if result.returncode == 0 else f"exit {result.returncode}: {result.stderr}"


# --- plan ------------------------------------------------------------------------------------


def test_plan_reencodes_only_the_gops_of_the_fades(media):
    plan = plan_render(media["talk"], CUT)
    assert plan.path == SMART, plan.reason
    assert plan.frames == FRAMES
    # keyframes every 5 s: the fade-in ends at 7 s → head 4–10 s; the fade-out starts at 27 s → tail 25–30 s
    assert (plan.head_frames, plan.middle_frames, plan.tail_frames) == (6 * FPS, 15 * FPS, 5 * FPS)
    assert "re-encode 275 of 650 frames" in plan.reason


def test_plan_without_fades_does_not_crash(media):
    """fade_seconds 0 used to index one past the cut (cut[len(cut) - 0]) and crash the plan."""
    plan = plan_render(media["talk"], RenderSpec(start=5.0, end=30.0, fade_seconds=0))
    assert plan.path == SMART, plan.reason
    assert plan.frames == 25 * FPS
    assert plan.head_frames + plan.middle_frames + plan.tail_frames == 25 * FPS
    assert plan.head_frames == 0  # 5 s is a keyframe and there is no fade-in to re-encode


def test_smart_render_without_fades_starting_on_a_keyframe(media):
    """fade_seconds 0 with the cut on a keyframe: the head has no frame and is left out of the join
    (an empty head piece crashed join_pieces); every frame still shows the right number."""
    spec = RenderSpec(start=5.0, end=30.0, fade_seconds=0)
    plan = plan_render(media["talk"], spec)
    output = render_smart(media["talk"], media["out"] / "nofade.mp4", spec, plan).output
    frames = frame_numbers(output)
    assert len(frames) == 25 * FPS
    assert [n for _, n in frames] == list(range(5 * FPS, 30 * FPS))  # no fade: every frame readable


@pytest.mark.parametrize(
    ("kind", "spec", "reason"),
    [
        ("mpeg4", CUT, "video codec is mpeg4, not H.264"),
        ("vfr", CUT, "variable frame rate"),
        ("open_gop", CUT, "open GOP"),
        ("talk", RenderSpec(4.0, 12.0, 3.0), "no two keyframes between the fades"),
        ("talk", RenderSpec(4.0, 30.0, 3.0, watermark=Path("logo.png")), "a watermark is configured"),
    ],
)
def test_plan_falls_back_to_full_render_with_the_reason(media, kind, spec, reason):
    sources = {
        "mpeg4": {"codec": "mpeg4"},
        "vfr": {"vfr": True},
        "open_gop": {"open_gop": True},
    }
    source = media["talk"]
    if kind in sources:
        source = make_numbered_talk(media["out"] / f"{kind}.mp4", duration=32.0, fps=FPS, **sources[kind])
    plan = plan_render(source, spec)
    assert plan.path == FULL
    assert reason in plan.reason


# --- smart vs full: what a viewer gets ---------------------------------------------------------


def test_smart_render_is_frame_exact_at_both_ends(smart):
    assert_frame_exact(frame_numbers(smart), FIRST, FRAMES)


def test_full_render_is_frame_exact_at_both_ends(full):
    assert_frame_exact(frame_numbers(full), FIRST, FRAMES)


def test_smart_render_keeps_sound_in_sync_across_the_joints(smart):
    assert_in_sync(smart)


def test_full_render_keeps_sound_in_sync(full):
    assert_in_sync(full)


def test_smart_render_decodes_cleanly_with_the_fades(smart, media):
    assert decode_errors(smart) == ""
    assert frame_luma(smart, 0.0) < 20
    assert frame_luma(smart, (FRAMES - 1) / FPS) < 20
    assert frame_luma(smart, 12.0) == pytest.approx(frame_luma(media["talk"], CUT.start + 12.0), abs=2)
    assert audio_rms_db(smart, 0.0, 0.3) < audio_rms_db(smart, 12.0, 0.3) - 15  # beep at 4 s is faded out


def test_reencoded_pieces_share_the_sources_codec_parameters(smart, media):
    source, joined = probe_streams(media["talk"]), probe_streams(smart)
    for name in ("profile", "level", "width", "height", "pix_fmt", "fps", "sar", "color_range"):
        assert getattr(joined.video, name) == getattr(source.video, name), name
    for name in ("color_primaries", "color_trc", "colorspace"):
        assert getattr(joined.video, name) == getattr(source.video, name), name
    # every IDR of every piece carries an SPS in-band, with the source's profile and level
    source_sps = avcc_parameter_sets(source.avcc)[1][0]
    idr = with_sps = 0
    with av.open(str(smart)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.codec_tag == "avc3"
        for packet in container.demux(stream):
            nals = [nal for nal in nal_units(bytes(packet)) if nal]
            if any(nal[0] & 0x1F == 5 for nal in nals):
                idr += 1
                sps = [nal for nal in nals if nal[0] & 0x1F == 7]
                with_sps += bool(sps)
                assert all((nal[1], nal[3]) == (source_sps[1], source_sps[3]) for nal in sps)
    assert idr >= 5  # head, three copied GOPs, tail
    assert with_sps == idr
    with av.open(str(smart)) as container:
        frames = {(f.width, f.height, f.format.name, f.color_range) for f in container.decode(video=0)}
    assert frames == {(640, 360, "yuv420p", source.video.color_range)}


def test_smart_render_copies_the_middle_bit_for_bit(smart, media):
    def middle_packets(path: Path, start: float, count: int) -> list[bytes]:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            ordered = sorted((p for p in container.demux(stream) if p.size), key=lambda p: p.pts)
            first = next(i for i, p in enumerate(ordered) if p.pts * p.time_base >= start - 1e-6)
            return [
                b"".join(n for n in nal_units(bytes(p)) if n[0] & 0x1F in (1, 5))
                for p in ordered[first : first + count]
            ]

    assert middle_packets(smart, 6.0, 15 * FPS) == middle_packets(media["talk"], 10.0, 15 * FPS)


def test_sting_is_joined_in_front_in_the_talks_parameters(with_sting, media):
    path, sting_frames = with_sting
    assert sting_frames == 2 * FPS
    frames = frame_numbers(path)
    assert_frame_exact(frames, FIRST, FRAMES, skip=sting_frames)
    assert decode_errors(path) == ""
    assert_in_sync(path, offset_frames=sting_frames)
    assert probe_streams(path).video.width == 640
    assert audio_rms_db(path, 0.3, 1.0) > -30, "the sting keeps its sound"


# --- the browser ------------------------------------------------------------------------------


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with HTTP Range support (what a browser needs to seek in an MP4)."""

    def log_message(self, *args) -> None:
        """Quiet."""

    def send_head(self):
        path = self.translate_path(self.path)
        if not os.path.isfile(path):
            return super().send_head()
        size = os.path.getsize(path)
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
        start, end = 0, size - 1
        if match:
            start = int(match.group(1) or 0)
            end = min(int(match.group(2)) if match.group(2) else size - 1, size - 1)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", "video/mp4" if path.endswith(".mp4") else "text/html")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        handle = open(path, "rb")  # noqa: SIM115 - closed by the base class after copyfile
        handle.seek(start)
        self.remaining = end - start + 1
        return handle

    def copyfile(self, source, outputfile) -> None:
        while self.remaining > 0:
            chunk = source.read(min(65536, self.remaining))
            if not chunk:
                return
            try:
                outputfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                return
            self.remaining -= len(chunk)


PLAY = """async ([middle, fps]) => {
  const v = document.querySelector('video');
  const wait = (name, ms) => new Promise((ok, ko) => {
    const t = setTimeout(() => ko(new Error(`no ${name} within ${ms} ms at ${v.currentTime}: ${v.error && v.error.message}`)), ms);
    v.addEventListener(name, () => { clearTimeout(t); ok(); }, {once: true});
  });
  const pause = ms => new Promise(r => setTimeout(r, ms));
  const shown = () => {  // the frame number drawn in the picture, read back from a canvas
    const c = document.querySelector('canvas'); c.width = v.videoWidth; c.height = v.videoHeight;
    const g = c.getContext('2d', {willReadFrequently: true}); g.drawImage(v, 0, 0);
    const w = c.width / 20, y = Math.floor(c.height * 12 / 180);
    const mean = k => { const p = g.getImageData(Math.floor((k + 0.3) * w), y, Math.floor(0.4 * w), 2).data;
      let s = 0; for (let i = 0; i < p.length; i += 4) s += p[i]; return s / (p.length / 4); };
    const white = mean(0), black = mean(1); let n = 0;
    for (let k = 2; k < 20; k++) if (mean(k) > (white + black) / 2) n += 1 << (k - 2);
    return n;
  };
  const errors = []; v.addEventListener('error', () => errors.push(v.error.message));
  if (v.readyState < 1) await wait('loadedmetadata', 15000);
  const result = {duration: v.duration, type: v.canPlayType('video/mp4; codecs="avc3.64001e"')};
  await Promise.race([v.play(), pause(15000).then(() => { throw new Error('play() hung'); })]);
  await pause(1000);
  result.playedTo = v.currentTime;
  v.pause(); v.currentTime = middle; await wait('seeked', 15000); await pause(300);
  result.middleShown = shown();
  result.middleAt = v.currentTime;
  v.currentTime = v.duration - 1.5; await wait('seeked', 15000);
  const ended = wait('ended', 30000); await v.play(); await ended;
  result.ended = v.ended; result.endedAt = v.currentTime; result.errors = errors;
  return result;
}"""


@pytest.fixture
def chromium():
    if not Path(CHROMIUM).is_file():
        message = f"SKIPPED LOUDLY: no Chromium at {CHROMIUM}; install Debian's chromium (make system-deps)"
        warnings.warn(message, stacklevel=1)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--headless=new", "--autoplay-policy=no-user-gesture-required"],
        )
        yield browser
        browser.close()


def test_chromium_plays_seeks_into_the_copied_middle_and_reaches_the_end(chromium, with_sting, tmp_path):
    path, sting_frames = with_sting
    shutil.copy(path, tmp_path / "talk.mp4")
    (tmp_path / "index.html").write_text('<video src="talk.mp4" muted playsinline></video><canvas></canvas>')
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(RangeHandler, directory=str(tmp_path))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        page = chromium.new_page()
        page.set_default_timeout(90_000)
        page.goto(f"http://127.0.0.1:{server.server_address[1]}/index.html")
        # the middle of the talk: 12 s into the cut, inside the copied piece (6 s … 21 s of the cut)
        middle = sting_frames / FPS + 12.0 + 0.5 / FPS
        result = page.evaluate(PLAY, [middle, FPS])
    finally:
        server.shutdown()
    assert result["type"] in ("probably", "maybe")
    assert result["duration"] == pytest.approx(float(Fraction(sting_frames + FRAMES, FPS)), abs=0.05)
    assert result["playedTo"] > 0.3
    assert result["middleShown"] == FIRST + 12 * FPS, result
    assert result["ended"] is True
    assert result["endedAt"] == pytest.approx(result["duration"], abs=0.05)
    assert result["errors"] == []


def test_watermark_source_still_renders_through_the_full_path(media, tmp_path):
    logo = make_watermark(tmp_path / "logo.png")
    spec = RenderSpec(CUT.start, CUT.end, CUT.fade_seconds, watermark=logo)
    assert plan_render(media["talk"], spec).path == FULL
    with pytest.raises(ValueError, match="not the smart one"):
        render_smart(media["talk"], tmp_path / "x.mp4", spec, plan_render(media["talk"], spec))


# --- the commands -----------------------------------------------------------------------------


def test_piece_and_audio_commands_seek_half_a_frame_early_and_count_frames(media, tmp_path):
    from include.video_publishing.smart_render import audio_command, fade_filter, piece_command

    plan = plan_render(media["talk"], CUT)
    head = piece_command(
        media["talk"], tmp_path / "h.mp4", plan, first_pts=plan.first_pts, frames=plan.head_frames,
        video_filter=fade_filter(1, None, plan.fade_frames),
    )  # fmt: skip
    assert head[head.index("-ss") + 1] == f"{CUT.start - 0.5 / FPS:.6f}"
    assert head[head.index("-frames:v") + 1] == str(6 * FPS)
    assert head[head.index("-profile:v") + 1] == "high"
    assert head[head.index("-level:v") + 1] == "3"
    assert head[head.index("-colorspace") + 1] == "1"
    assert head[head.index("-filter_complex") + 1] == "[0:v]fade=t=in:s=0:n=75,format=yuv420p[v]"
    audio = audio_command(
        media["talk"], tmp_path / "a.m4a", start=4.0, duration=26.0, has_audio=True, fade_seconds=3.0,
        sting=tmp_path / "s.mp4", sting_seconds=2.0,
    )  # fmt: skip
    graph = audio[audio.index("-filter_complex") + 1]
    assert "atrim=end=26.000000,afade=t=in:st=0:d=3,afade=t=out:st=23.000000:d=3[ta]" in graph
    assert "[1:a:0]aresample=48000" in graph
    assert graph.endswith("[sa][ta]concat=n=2:v=0:a=1[a]")


def test_chunks_start_at_keyframes_away_from_the_fades(media):
    from include.video_publishing.chunked_render import chunk_filter, plan_chunks

    chunks = plan_chunks(media["talk"], CUT, chunk_seconds=8.0)
    assert [c.first_frame for c in chunks] == [0, 11 * FPS, 21 * FPS]  # source keyframes at 15 s and 25 s
    assert sum(c.frames for c in chunks) == FRAMES
    assert chunk_filter(chunks[0], watermark=False) == "[0:v]fade=t=in:s=0:n=75,format=yuv420p[v]"
    assert chunk_filter(chunks[1], watermark=True) == (
        "[1:v]format=rgba[wm];[0:v][wm]overlay=W-w-16:H-h-16,format=yuv420p[v]"
    )
    assert chunk_filter(chunks[2], watermark=False) == "[0:v]fade=t=out:s=50:n=75,format=yuv420p[v]"
