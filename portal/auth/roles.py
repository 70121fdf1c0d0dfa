"""The roles of design.md section 7 and what each may do. `portal.access` applies them."""

from __future__ import annotations

SUPERVISOR, QA, DPO, AUDITOR, ADMIN, PLATFORM = (
    "supervisor",
    "qa",
    "dpo",
    "auditor",
    "admin",
    "platform",
)
ROLES = (SUPERVISOR, QA, DPO, AUDITOR, ADMIN, PLATFORM)
# Roles whose view of recordings may be limited to some services.
SCOPED = frozenset({SUPERVISOR, QA})

# Actions, by what they touch.
SEARCH = "search"  # find recordings
VIEW = "view"  # a recording's page and JSON object
PLAY = "play"  # open a playback grant and stream the audio
DOWNLOAD = "download"  # a copy of the audio (a separate permission, see PortalUser.may_download)
TAG = "tag"  # add a case ID
CONSENT_ONLY = "consent-only"  # consent records that have no audio
AUDIT = "audit"  # the audit viewer
MANAGE_USERS = "manage-users"
HOOKS = "hooks"  # the platform hooks
EVALUATE = "evaluate"  # submit QA evaluations of a recording and see them (quality/)
QA_REPORTS = "qa-reports"  # QA score reports, limited to the user's services
# Data-subject rights (issue 11; the domain is consent/): only the DPO.
SEE_RESTRICTED = "see-restricted"  # restricted recordings (everyone else: 404, as if absent)
RESTRICT = "restrict"  # restrict a recording, or lift its restriction
RECTIFY = "rectify"  # correct a recording's metadata (append-only history)
DISCLOSE = "disclose"  # the disclosure register: record a disclosure, read the register
REQUESTS = "requests"  # data-subject requests: open, move, pack, propose and approve erasure

ROLE_ACTIONS: dict[str, frozenset[str]] = {
    SUPERVISOR: frozenset({SEARCH, VIEW, PLAY, TAG, EVALUATE, QA_REPORTS}),
    QA: frozenset({SEARCH, VIEW, PLAY, EVALUATE, QA_REPORTS}),
    DPO: frozenset(
        {SEARCH, VIEW, PLAY, DOWNLOAD, TAG, CONSENT_ONLY, AUDIT}
        | {SEE_RESTRICTED, RESTRICT, RECTIFY, DISCLOSE, REQUESTS}
    ),
    AUDITOR: frozenset({AUDIT}),
    # The first user `callvault init` makes is an admin, who must be able to find, play and
    # audit the demo call; download stays a separate permission, and every play is audited.
    ADMIN: frozenset({MANAGE_USERS, SEARCH, VIEW, PLAY, TAG, CONSENT_ONLY, AUDIT}),
    PLATFORM: frozenset({HOOKS}),
}
