"""Test audio for the benchmarks: a synthetic two-party phone call, and how to score it.

The call is espeak-ng speech, caller on the left and staff on the right (design.md §2), taking
turns with pauses and the odd back-channel ("mm-hmm") over the other side, band-limited to the
telephone band, resampled to 8 kHz and written as 16-bit stereo WAV over a faint noise floor.
Everything is seeded, so every run scores the same audio.
"""

from __future__ import annotations

import random
import struct
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import butter, correlate, resample_poly, sosfilt

RATE = 8000
CALLER_VOICES = ("en-us+f3", "en-gb+f4")
STAFF_VOICES = ("en-gb-x-rp+m3", "en-us+m7")
BACKCHANNEL = ("Mm-hmm.", "Right.", "Okay.", "Yes.", "I see.")
SENTENCES = (
    "Hello, I am calling about the letter I received on Tuesday.",
    "Good morning, you are through to the housing benefits team, how can I help?",
    "My reference number is four seven two nine, one one eight three.",
    "Could you confirm the first line of your address and your postcode, please?",
    "It is twenty two Mill Lane, and the postcode is B S three, four Q T.",
    "Thank you. I can see the claim was opened on the fourteenth of March.",
    "The payment was supposed to arrive last week but nothing has come through.",
    "I understand, let me check the payment schedule for you now.",
    "It looks like the bank details we hold end in six five zero one.",
    "No, that is my old account, I changed banks in January.",
    "That explains it. I will need to update the account before we can pay you.",
    "Can you read me the sort code and the account number?",
    "The sort code is twenty, forty, sixteen, and the account is three one five five eight two.",
    "I have updated the record, the missed payment will be reissued within five working days.",
    "Will I get a letter confirming that, or should I call back?",
    "You will receive a confirmation by post and by email, usually within two days.",
    "Is there anything else I should do in the meantime?",
    "If your circumstances change, for example your rent or your hours, please let us know.",
    "My hours at the warehouse went down from thirty to twenty one a week in February.",
    "Then we should reassess the award, I will open a change of circumstances for you.",
    "Do you need payslips for that, and where should I send them?",
    "Please upload the last three payslips through the online portal, or post copies to us.",
    "I am sorry, the line is a bit quiet, could you repeat the last part?",
    "Of course. Three payslips, uploaded online or sent by post.",
    "That is really helpful, thank you for sorting this out so quickly.",
    "You are welcome. Your case number for today's call is C seven seven four one.",
    "Is there anything else I can help you with today?",
    "No, that is everything. Have a good afternoon.",
)
_PHONE_BAND = butter(4, (300, 3400), btype="bandpass", fs=RATE, output="sos")


def _say(text: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    """espeak-ng speech (22.05 kHz) → telephone band at 8 kHz, float, peak-normalised."""
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text],
        capture_output=True,
        check=True,
    ).stdout
    pcm = np.frombuffer(wav[44:], dtype="<i2").astype(np.float64)  # espeak's WAV header is 44 bytes
    x: np.ndarray = sosfilt(_PHONE_BAND, resample_poly(pcm, 160, 441))
    return np.asarray(x / (np.max(np.abs(x)) + 1e-9), dtype=np.float64)


def make_call(dst: Path, seconds: float, seed: int = 7) -> Path:
    """Write a `seconds`-long stereo 8 kHz 16-bit WAV of a two-party call to dst."""
    rng = random.Random(seed)
    pool: dict[int, list[np.ndarray]] = {0: [], 1: []}
    for side, voices in ((0, CALLER_VOICES), (1, STAFF_VOICES)):
        for i, text in enumerate(SENTENCES):
            voice = voices[i % len(voices)]
            pool[side].append(_say(text, voice, rng.randint(145, 185), rng.randint(35, 65)))
    backs = {
        side: [_say(t, v[0], 170, 50) for t in BACKCHANNEL]
        for side, v in ((0, CALLER_VOICES), (1, STAFF_VOICES))
    }
    n = int(seconds * RATE)
    out = np.zeros((n, 2))
    t, side = int(0.8 * RATE), 1  # staff answers first
    while t < n:
        for _ in range(rng.randint(1, 3)):  # one turn: a few utterances with short pauses
            if t >= n:
                break
            utt = rng.choice(pool[side]) * rng.uniform(0.35, 0.7)
            end = min(n, t + len(utt))
            out[t:end, side] += utt[: end - t]
            if rng.random() < 0.25:  # the listener says "mm-hmm" part-way through
                b = rng.choice(backs[1 - side]) * 0.3
                at = t + len(utt) // 2
                stop = min(n, at + len(b))
                out[at:stop, 1 - side] += b[: max(0, stop - at)]
            t = end + int(rng.uniform(0.25, 0.8) * RATE)
        t += int(rng.uniform(0.3, 1.6) * RATE)  # gap before the other side answers
        side = 1 - side
    noise = np.random.default_rng(seed).normal(0.0, 10 ** (-58 / 20), out.shape)
    pcm = np.clip((out + noise) * 32767, -32768, 32767).astype("<i2")
    write_wav(dst, pcm)
    return dst


def write_wav(dst: Path, pcm: np.ndarray) -> None:
    """Write an (n, channels) int16 array as a PCM WAV at 8 kHz."""
    with wave.open(str(dst), "wb") as w:
        w.setnchannels(pcm.shape[1])
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())


def loop_to(src: Path, dst: Path, seconds: float) -> Path:
    """Repeat src until it lasts `seconds` (ffmpeg streams it; nothing is held in memory)."""
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-stream_loop",
            "-1",
            "-i",
            str(src),
            "-t",
            str(seconds),
            "-c:a",
            "pcm_s16le",
            str(dst),
        ],
        check=True,
    )
    return dst


@dataclass(frozen=True)
class Pcm:
    """Decoded 16-bit PCM and whether the RIFF/data chunk sizes in its header were true."""

    rate: int
    samples: np.ndarray  # (n, channels) float64 in [-1, 1)
    header_sizes_valid: bool


def read_wav(path: Path) -> Pcm:
    """Read a PCM WAV, tolerating 0xFFFFFFFF sizes (what ffmpeg writes to a pipe)."""
    data = path.read_bytes()
    riff_size = struct.unpack_from("<I", data, 4)[0]
    pos, fmt, body, data_size = 12, None, b"", 0
    while pos + 8 <= len(data):
        tag, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if tag == b"fmt ":
            fmt = struct.unpack_from("<HHIIHH", data, pos + 8)
        if tag == b"data":
            body, data_size = data[pos + 8 : pos + 8 + size], size
            break
        pos += 8 + size + (size & 1)
    if fmt is None or fmt[0] != 1 or fmt[5] != 16:
        raise ValueError(f"{path}: not 16-bit PCM WAV")
    channels, rate = fmt[1], fmt[2]
    body = body[: len(body) - len(body) % (2 * channels)]
    valid = riff_size == len(data) - 8 and data_size == len(body)
    pcm = np.frombuffer(body, dtype="<i2").reshape(-1, channels) / 32768.0
    return Pcm(rate, pcm, valid)


def lag_samples(ref: np.ndarray, deg: np.ndarray, max_lag: int = 800) -> int:
    """How many samples deg is late against ref (cross-correlation over the first 30 s)."""
    n = min(len(ref), len(deg), 30 * RATE)
    c = correlate(deg[:n], ref[:n], mode="full", method="fft")
    mid = n - 1
    window = c[mid - max_lag : mid + max_lag + 1]
    return int(np.argmax(window)) - max_lag


def stoi_per_channel(ref: Pcm, deg: Pcm) -> tuple[list[float], int, int]:
    """STOI of each channel after aligning; returns (scores, lag in samples, length diff)."""
    from pystoi import stoi

    if ref.rate != deg.rate or ref.samples.shape[1] != deg.samples.shape[1]:
        raise ValueError(f"rate/channels differ: {ref.rate} vs {deg.rate}")
    lag = lag_samples(ref.samples[:, 0], deg.samples[:, 0])
    d = deg.samples[lag:] if lag >= 0 else np.vstack([np.zeros((-lag, 2)), deg.samples])
    n = min(len(ref.samples), len(d))
    scores = [
        float(stoi(ref.samples[:n, ch], d[:n, ch], ref.rate, extended=False))
        for ch in range(ref.samples.shape[1])
    ]
    return scores, lag, len(deg.samples) - len(ref.samples)
