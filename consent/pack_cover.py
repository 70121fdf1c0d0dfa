"""The cover page of an access (or portability) pack: what a reply to a subject must say.

UK GDPR art. 15(1)-(3): the purposes, the recipients, how long the data is kept, the rights
(rectification, erasure, restriction, objection, complaint to the ICO), the source, and that no
automated decisions are made. The wording follows the council's privacy notice.
"""

from __future__ import annotations

from typing import Any

PURPOSES = (
    "to deal with the reason you called (for example a housing application or a missed "
    "waste collection), and to provide the services you need",
    "to check and improve the quality of our service and train our staff",
    "to verify your identity when you ask for services",
    "where necessary, for law enforcement, to protect people from harm, and to prevent or "
    "detect crime",
)
RECIPIENTS = (
    "other council services that need the information to help you",
    "partner organisations that provide services for us (for example housing repair "
    "contractors or other local authorities)",
    "other third parties where the law requires it (for example the Local Government "
    "Ombudsman or the police); every such disclosure of a recording is listed in this pack",
)
RIGHTS = (
    "rectification: you can ask us to correct information you think is wrong",
    "erasure: you can ask us to delete recordings in certain circumstances",
    "restriction: you can ask us to limit what we use your recordings for",
    "portability: you can ask for your recordings in a machine-readable form (data.json)",
    "objection: you can object to being recorded; we will stop recording your calls",
    "complaint: you can complain to the Information Commissioner's Office, https://ico.org.uk/",
)


def _bullets(items: tuple[str, ...] | list[str]) -> str:
    return "\n".join(f"  - {i}" for i in items)


def cover_text(pack: dict[str, Any]) -> str:
    req = pack["request"]
    recs = pack["recordings"]
    portable = req["kind"] == "portability"
    states: dict[str, int] = {}
    for r in recs:
        states[r["status"]] = states.get(r["status"], 0) + 1
    found = ", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "none"
    channels = (
        "Both voices are included: the council decided so, for this reason: "
        + str(pack["both_channels_reason"])
        if pack["both_channels"]
        else "Only your side of each call is included (the left channel). The member of "
        "staff's voice is someone else's personal data and has been left out."
    )
    retention = sorted(
        {f"{r['retention_class']}: until {r['expires_at']}" for r in recs if r["expires_at"]}
    )
    what = (
        "request to receive your data in a machine-readable form"
        if portable
        else "request for a copy of your personal data"
    )
    return f"""Your recorded calls: reply to request {req["id"]}

This pack answers your {what}
(received {req["received"]}; reply due {req["due"]}). It holds the recordings of your telephone
calls to the council that we found using the details you gave us, and the record of what you
were told and chose at the start of each call.

What we found: {len(recs)} recording(s) ({found}) and {len(pack["consent_only"])} call(s) that
were not recorded (the record of the announcement and of your choice is included for those).
A recording listed as "destroyed" no longer exists; "held" means we must keep it for a legal
case; "restricted" means we keep it but do not use it.

{channels}

Why we record calls:
{_bullets(PURPOSES)}

Who we share recordings with:
{_bullets(RECIPIENTS)}
Disclosures of these recordings so far: {len(pack["disclosures"])} (listed in data.json and in each
recording's recording.json).

How long we keep them: each recording is kept for the period of its retention class and then
securely destroyed (the file and the key that could unlock it are deleted):
{_bullets(retention or ["no recording is kept at present"])}

Where the data came from: the recordings were made by the council's telephone system during
your calls; the case numbers were added by council staff.

No automated decisions: nothing in these recordings is used to make decisions about you by
automated means, and no profiling is done with them.

Your rights:
{_bullets(RIGHTS)}

The files:
  - README.txt     this page
  - index.csv      one line per call
  - data.json      everything in this pack in machine-readable form (schema {pack["schema"]})
  - recordings/ID/ each recording: recording.json (details, consent, retention, disclosures,
                   corrections) and its audio as WAV and in the format we store it in
  - consent/       the consent record of each call that was not recorded
  - SHA256SUMS     a checksum of every file (check with: sha256sum -c SHA256SUMS)

More information: http://www.brentwood.gov.uk/index.php?cid=2879 and https://ico.org.uk/
"""
