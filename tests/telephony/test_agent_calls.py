"""The SIP agent against real sipp peers sending real RTP."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np

from tests.telephony.conftest import RunningAgent
from tests.telephony.sipp import CallerScenario, QueueScenario, Step


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as w:
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return data.reshape(-1, w.getnchannels()).astype(np.float64), w.getframerate()


def test_normal_call_is_recorded_in_stereo(agent: RunningAgent, voices: dict[str, Path]) -> None:
    rc, err = agent.call(
        CallerScenario(voices["caller"], [Step(9000, "bye")], case_id="WASTE-77"),
        QueueScenario(voices["staff"]),
    )
    assert rc == 0, err
    agent.wait_idle()
    rows = json.loads(agent.cli("recordings", "list", "--json").stdout)
    assert len(rows) == 1, agent.log.read_text()[-3000:]
    rec = json.loads(agent.cli("recordings", "show", rows[0]["id"], "--json").stdout)
    print(json.dumps(rec, indent=2))
    assert rec["channels"] == 2 and rec["case_ids"] == ["WASTE-77"]
    consent = rec["consent"]
    assert consent["outcome"] == "recorded" and consent["recorded"] is True
    assert consent["notice"] == {"id": "test-notice", "version": "7", "language": "en-GB"}
    out = agent.workdir / "out.wav"
    agent.cli("recordings", "export", rec["id"], "--out", str(out), "--reason", "test",
              "--format", "wav")
    audio, rate = read_wav(out)
    print(audio.shape, rate)
