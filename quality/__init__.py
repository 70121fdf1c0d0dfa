"""QA evaluations (issue 10 item 5): forms and their versions, scoring, calibration, reports.

Sits above storage/ and consent/ and below portal/: the portal and the CLI call it, it never
imports them.
"""
