"""The audio of an access pack: the caller's channel alone (default), or both channels.

The staff member's voice is a third party's personal data, so by default the pack holds the
left channel only (the caller's: storage/audio.py merges caller left, staff right), as WAV and
re-encoded in the recording's stored format. Both channels (the stored audio as it is, and as
WAV) are a recorded decision with its reason. A mono recording mixes both voices: its audio is
withheld from a caller-only pack. The decrypted audio streams through ffmpeg into a private
working directory and from there into the zip; nothing is held in memory.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from consent.errors import ConsentError
from storage.audio import AudioTools
from storage.retrieval import AudioStream

EXTENSIONS = {"opus": "ogg", "wav": "wav"}
CALLER_ONLY = "pan=mono|c0=c0"  # the left channel: the caller's


class PackAudioError(ConsentError):
    """ffmpeg could not decode a recording for the pack."""


@contextmanager
def workdir(parent: Path | None) -> Iterator[Path]:
    """A private (0700) directory for the decoded files, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=".pack-", dir=parent) as d:
        yield Path(d)


def decode_to_wav(
    audio: AudioTools, source: AudioStream, dest: Path, *, caller_only: bool, rate: int
) -> Path:
    """Decrypted ``source`` → a 16-bit WAV at ``dest`` (left channel only when caller_only)."""
    cmd = [audio.ffmpeg, "-nostdin", "-hide_banner", "-v", "error", "-y", "-i", "pipe:0"]
    cmd += ["-map_metadata", "-1", "-fflags", "+bitexact", "-ar", str(rate)]
    if caller_only:
        cmd += ["-af", CALLER_ONLY]
    cmd += ["-c:a", "pcm_s16le", "-f", "wav", str(dest)]
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors
        )
        if proc.stdin is None:  # never: Popen(stdin=PIPE) sets it
            raise PackAudioError("ffmpeg was started without a pipe to write to")
        try:
            while chunk := source.read():
                proc.stdin.write(chunk)
        except BrokenPipeError:
            pass  # ffmpeg stopped early; its exit status and message say why
        finally:
            proc.stdin.close()
        code = proc.wait(timeout=3600)
        if code != 0:
            errors.seek(0)
            lines = errors.read().decode(errors="replace").strip().splitlines()
            raise PackAudioError(
                f"recording {source.recording_id}: ffmpeg could not decode it for the pack "
                f"({lines[-1] if lines else f'exit {code}'})"
            )
    return dest


def caller_files(
    audio: AudioTools, source: AudioStream, work: Path, *, fmt: str, rate: int
) -> list[tuple[str, Path]]:
    """(file name in the pack, decoded file) for the caller's channel: WAV and stored format."""
    wav = decode_to_wav(audio, source, work / "caller.wav", caller_only=True, rate=rate)
    files = [("caller.wav", wav)]
    if fmt != "wav":
        ext = EXTENSIONS.get(fmt, fmt)
        audio.transcode(wav, work / f"caller.{ext}", fmt)
        files.append((f"caller.{ext}", work / f"caller.{ext}"))
    return files
