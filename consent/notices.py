"""Recording notices: which one a caller hears, chosen by the dialled number (service)."""

from __future__ import annotations

import wave
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from consent.errors import ConsentError

DEFAULT_NOTICE = Path(__file__).parent / "assets" / "notice-customer-service-en-GB.wav"
DEFAULT_APOLOGY = Path(__file__).parent / "assets" / "apology-en-GB.wav"
# The keys of a [[consent.notices]] entry (the settings loader checks them too).
NOTICE_REQUIRED = ("id", "version", "language", "file")
NOTICE_KEYS = (*NOTICE_REQUIRED, "dialled", "service")


@dataclass(frozen=True)
class Notice:
    id: str
    version: str
    language: str
    file: Path
    duration_s: float
    service: str
    dialled: tuple[str, ...] = ("*",)

    def matches(self, dialled: str) -> bool:
        return "*" in self.dialled or dialled in self.dialled


def wav_duration(path: Path) -> float:
    """Length of a PCM WAV (what pjsua's player can play), or a ConsentError naming the file."""
    try:
        with wave.open(str(path)) as w:
            if w.getsampwidth() != 2:
                raise ConsentError(f"{path}: notices must be 16-bit PCM WAV")
            return float(w.getnframes() / w.getframerate())
    except FileNotFoundError:
        raise ConsentError(f"notice file {path} does not exist") from None
    except (wave.Error, EOFError) as exc:
        raise ConsentError(f"notice file {path} is not a PCM WAV file: {exc}") from exc


class NoticeCatalogue:
    """The configured notices in order; the first whose `dialled` list matches wins."""

    def __init__(self, notices: Iterable[Notice]) -> None:
        self.notices = tuple(notices)
        if not self.notices:
            raise ConsentError("no recording notice configured")

    @classmethod
    def from_config(cls, entries: Iterable[Mapping[str, str]], base_dir: Path) -> NoticeCatalogue:
        notices = []
        for i, e in enumerate(entries, start=1):
            missing = set(NOTICE_REQUIRED) - set(e)
            if missing:
                raise ConsentError(f"notices[{i}] lacks {', '.join(sorted(missing))}")
            unknown = set(e) - set(NOTICE_KEYS)
            if unknown:
                raise ConsentError(f"notices[{i}] has unknown keys {', '.join(sorted(unknown))}")
            path = Path(e["file"]) if Path(e["file"]).is_absolute() else base_dir / e["file"]
            dialled = tuple(d.strip() for d in e.get("dialled", "*").split(",") if d.strip())
            notices.append(
                Notice(
                    e["id"],
                    e["version"],
                    e["language"],
                    path,
                    wav_duration(path),
                    e.get("service", e["id"]),
                    dialled or ("*",),
                )
            )
        if not notices:
            notices.append(default_notice())
        return cls(notices)

    def select(self, dialled: str) -> Notice:
        for n in self.notices:
            if n.matches(dialled):
                return n
        return self.notices[-1]


def default_notice() -> Notice:
    return Notice(
        "customer-service",
        "2026-11",
        "en-GB",
        DEFAULT_NOTICE,
        wav_duration(DEFAULT_NOTICE),
        "customer-service",
    )
