"""Merging the two legs of a call by streaming: exact samples, and flat memory for a long call."""

from __future__ import annotations

import subprocess
import sys
import wave
from pathlib import Path

import numpy as np

from callvault.settings import load_settings
from storage.audio import probe_wav
from storage.merge import FRAMES, merge_legs
from tests.conftest import Backend, write_config

# VmHWM, not ru_maxrss: exec() carries the parent's (pytest's) high-water mark into ru_maxrss.
RSS_CHILD = """
import sys
from pathlib import Path
from callvault.settings import load_settings
from callvault.wiring import Services
from storage.ingest import IngestRequest
from storage.merge import merge_legs

config, left, right, stereo = (Path(a) for a in sys.argv[1:5])
svc = Services.build(load_settings(config, environ={}))
merge_legs(left, right, stereo)
result = svc.pipeline().ingest(stereo, IngestRequest("long-call"), actor="t")
status = Path("/proc/self/status").read_text().splitlines()
print(result.state, next(int(x.split()[1]) for x in status if x.startswith("VmHWM:")) // 1024)
"""


def write_leg(path: Path, samples: np.ndarray, rate: int = 8000) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())
    return path


def read_stereo(path: Path) -> tuple[int, np.ndarray]:
    with wave.open(str(path)) as w:
        assert w.getnchannels() == 2 and w.getsampwidth() == 2
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
        return w.getframerate(), data


def test_legs_interleave_exactly_and_the_shorter_is_padded(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    a = rng.integers(-32768, 32767, FRAMES * 2 + 123, dtype=np.int16)  # across chunk borders
    b = rng.integers(-32768, 32767, FRAMES // 2, dtype=np.int16)
    left, right = write_leg(tmp_path / "a.wav", a), write_leg(tmp_path / "b.wav", b)
    seconds = merge_legs(left, right, tmp_path / "s.wav")
    rate, got = read_stereo(tmp_path / "s.wav")
    assert rate == 8000 and len(got) == len(a) and seconds == len(a) / 8000
    assert np.array_equal(got[:, 0], a)
    assert np.array_equal(got[: len(b), 1], b) and not got[len(b) :, 1].any()
    info = probe_wav(tmp_path / "s.wav")  # read from the header, no ffprobe
    assert info is not None and info.channels == 2 and info.codec == "pcm_s16le"


def test_legs_of_different_rates_go_through_ffmpeg(tmp_path: Path) -> None:
    t = np.arange(8000 * 2)
    left = write_leg(tmp_path / "a.wav", 8000 * np.sin(2 * np.pi * 440 * t / 8000))
    right = write_leg(tmp_path / "b.wav", np.zeros(16000 * 3), rate=16000)
    seconds = merge_legs(left, right, tmp_path / "s.wav")
    rate, got = read_stereo(tmp_path / "s.wav")
    assert rate == 16000 and seconds == 3.0 and abs(len(got) - 48000) <= 1
    assert got[: 16000 * 2, 0].std() > 1000 and not got[:, 1].any()


def test_a_long_call_is_merged_and_committed_in_flat_memory(tmp_path: Path) -> None:
    """30 minutes here (RSS does not grow with the length: bench/ingest.py shows 2 hours);
    on the embedded default, as memory, not the backend, is what this measures."""
    config = write_config(tmp_path)
    backend = Backend("sqlite-fs", config, load_settings(config, environ={}))
    backend.cli("init", check=True)
    minute = np.tile((6000 * np.sin(2 * np.pi * 300 * np.arange(8000) / 8000)), 60)
    for name in ("caller", "staff"):
        with wave.open(str(tmp_path / f"{name}.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            for _ in range(30):
                w.writeframes(minute.astype("<i2").tobytes())
    stereo = tmp_path / "stereo.wav"
    args = [str(backend.config), *(str(tmp_path / f"{n}.wav") for n in ("caller", "staff"))]
    r = subprocess.run(
        [sys.executable, "-c", RSS_CHILD, *args, str(stereo)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
        cwd=tmp_path,
    )
    state, peak_mb = r.stdout.split()
    assert state == "stored"
    # The stereo file alone is 58 MB: reading it whole would pass the limit.
    assert int(peak_mb) < 100, f"peak RSS {peak_mb} MB"
