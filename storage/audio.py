"""The one place that runs ffmpeg/ffprobe (and pydub), always with explicit binary paths.

Ingest and export stream through ffmpeg subprocesses so memory stays flat whatever the length
of the call; pydub (which loads whole files) is used only for short in-memory work.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from storage.errors import RejectedAudioError, StorageError
from storage.merge import merge_legs

__all__ = [
    "FORMATS",
    "AudioInfo",
    "AudioTools",
    "fix_streamed_wav",
    "is_cheap_form",
    "merge_legs",
    "probe_wav",
]

FORMATS = {"opus": ("ogg", "libopus"), "wav": ("wav", "pcm_s16le")}


@dataclass(frozen=True)
class AudioInfo:
    duration_s: float
    channels: int
    sample_rate: int
    codec: str
    container: str


@dataclass(frozen=True)
class AudioTools:
    ffmpeg: str = "ffmpeg"
    ffprobe: str = "ffprobe"
    opus_bitrate_kbps: int = 24
    opus_complexity: int = 5

    def probe(self, path: Path) -> AudioInfo:
        """Describe the first audio stream, or raise RejectedAudioError saying what is wrong.

        A 16-bit PCM WAV (what the SIP agent writes) is read from its header, without ffprobe.
        """
        fast = probe_wav(path)
        if fast is not None:
            return fast
        try:
            r = subprocess.run(
                [
                    self.ffprobe,
                    "-v",
                    "error",
                    "-show_streams",
                    "-show_format",
                    "-select_streams",
                    "a",
                    "-of",
                    "json",
                    str(path),
                ],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        except FileNotFoundError:
            raise StorageError(f"ffprobe not found at {self.ffprobe!r} (audio.ffprobe)") from None
        if r.returncode != 0:
            detail = (r.stderr.strip().splitlines() or ["unreadable"])[-1]
            raise RejectedAudioError(f"{path.name}: not readable audio ({detail})")
        info = json.loads(r.stdout or "{}")
        streams = info.get("streams") or []
        if not streams:
            raise RejectedAudioError(f"{path.name}: contains no audio stream")
        s = streams[0]
        channels = int(s.get("channels") or 0)
        if channels not in (1, 2):
            raise RejectedAudioError(f"{path.name}: {channels} channels unsupported (1 or 2)")
        duration = float(s.get("duration") or info.get("format", {}).get("duration") or 0)
        if duration <= 0:
            raise RejectedAudioError(f"{path.name}: audio has no duration (empty or truncated)")
        return AudioInfo(
            duration_s=duration,
            channels=channels,
            sample_rate=int(s.get("sample_rate") or 0),
            codec=str(s.get("codec_name")),
            container=str(info.get("format", {}).get("format_name")),
        )

    def _ffmpeg(self) -> list[str]:
        return [self.ffmpeg, "-nostdin", "-hide_banner", "-v", "error", "-y"]

    def _encode_args(self, fmt: str) -> list[str]:
        container, codec = FORMATS[fmt]
        args = ["-c:a", codec]
        if fmt == "opus":
            args += [
                "-b:a",
                f"{self.opus_bitrate_kbps}k",
                "-application",
                "voip",
                "-compression_level",
                str(self.opus_complexity),
                "-vbr",
                "on",
            ]
        return [*args, "-f", container]

    def transcode(self, src: Path, dst: Path, fmt: str) -> None:
        """Decode everything in src and encode it to dst; a decode error rejects the input."""
        cmd = [
            *self._ffmpeg(),
            "-xerror",
            "-i",
            str(src),
            "-map",
            "0:a:0",
            "-map_metadata",
            "-1",
            *self._encode_args(fmt),
            str(dst),
        ]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, check=False)
        if r.returncode != 0:
            detail = (r.stderr.strip().splitlines() or ["ffmpeg failed"])[-1]
            raise RejectedAudioError(f"{src.name}: cannot be transcoded to {fmt} ({detail})")

    def compressor(self, fmt: str, errors: IO[bytes]) -> subprocess.Popen[bytes]:
        """An ffmpeg process reading stored audio on stdin, writing `fmt` on stdout (pipes both
        ways: no plaintext touches the disk). Ogg needs no seeking back, so a pipe will do."""
        cmd = [
            *self._ffmpeg(),
            "-xerror",
            "-i",
            "pipe:0",
            "-map",
            "0:a:0",
            "-map_metadata",
            "-1",
            "-fflags",
            "+bitexact",
            *self._encode_args(fmt),
            "pipe:1",
        ]
        try:
            return subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors
            )
        except FileNotFoundError:
            raise StorageError(f"ffmpeg not found at {self.ffmpeg!r} (audio.ffmpeg)") from None

    def decoder(
        self, fmt_out: str, sample_rate: int, dest: Path, errors: IO[bytes]
    ) -> subprocess.Popen[bytes]:
        """An ffmpeg process reading stored audio on stdin and writing `fmt_out` to dest.

        dest is a file, not a pipe, so ffmpeg can fill in the WAV header's sizes at the end.
        """
        cmd = [
            *self._ffmpeg(),
            "-i",
            "pipe:0",
            "-map_metadata",
            "-1",
            "-fflags",
            "+bitexact",
        ]
        if fmt_out == "wav":
            cmd += ["-ar", str(sample_rate)]
        cmd += [*self._encode_args(fmt_out), str(dest)]
        return subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors
        )


_STREAMED = 0xFFFFFFFF  # what a streaming WAV writer (ffmpeg -f wav pipe:1) puts in the sizes


def fix_streamed_wav(path: Path) -> bool:
    """Fill in the RIFF and data sizes of a WAV written to a pipe (both 0xFFFFFFFF: the writer
    could not seek back), from the file's real length; True when it changed the file.

    Only the streaming marker is rewritten: any other inconsistent size is left for the
    probe to reject, so a truncated or corrupt file is still refused.
    """
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return False
        riff_size = struct.unpack("<I", head[4:8])[0]
        off, block = 12, 1
        while off + 8 <= size:
            fh.seek(off)
            cid, csize = struct.unpack("<4sI", fh.read(8))
            if cid == b"fmt " and csize >= 16:
                block = max(1, struct.unpack("<H", fh.read(14)[12:14])[0])
            if cid == b"data":
                if csize != _STREAMED and riff_size != _STREAMED:
                    return False
                data = (size - off - 8) // block * block
                fh.seek(off + 4)
                fh.write(struct.pack("<I", min(data, _STREAMED - 1)))
                fh.seek(4)
                fh.write(struct.pack("<I", min(off + data, _STREAMED - 1)))
                fh.truncate(off + 8 + data)
                fh.flush()
                os.fsync(fh.fileno())
                return True
            if csize == _STREAMED:
                return False
            off += 8 + csize + (csize & 1)
    return False


def probe_wav(path: Path) -> AudioInfo | None:
    """The AudioInfo of a 16-bit PCM WAV with 1 or 2 channels and samples, from its header;
    None for anything else (ffprobe decides, and names what is wrong)."""
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate, frames = (
                w.getnchannels(),
                w.getsampwidth(),
                w.getframerate(),
                w.getnframes(),
            )
    except (wave.Error, EOFError, OSError):
        return None
    data = path.stat().st_size - 44  # a header at least this long precedes the samples
    if width != 2 or channels not in (1, 2) or rate <= 0 or frames <= 0:
        return None
    if frames * channels * width > data:  # the header promises more than the file holds
        return None
    return AudioInfo(frames / rate, channels, rate, "pcm_s16le", "wav")


def is_cheap_form(info: AudioInfo) -> bool:
    """Audio that is committed as it is when compression comes later: 16-bit PCM WAV."""
    return info.container == "wav" and info.codec == "pcm_s16le"
