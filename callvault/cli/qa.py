"""`callvault qa forms load|list|show`, `qa evaluate`, `qa calibration`, `qa report`: QA
evaluations of recordings (issue 10 item 5; the domain is quality/)."""

from __future__ import annotations

import argparse
import io
import json
import sys
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from callvault.cli.common import actor, parse_time
from callvault.cli.output import Column, emit, fields, note, one_line, table
from callvault.cli.registry import Context, Registrar, UsageError

FORM_COLUMNS = (
    Column("FORM", lambda f: f["ref"], 32),
    Column("VERSIONS", lambda f: f["versions"], 8, ">"),
    Column("EVALUATIONS", lambda f: f["evaluations"], 11, ">"),
    Column("TITLE", lambda f: f["title"]),
)


def _bar(score: float | None) -> str:
    return "" if score is None else "#" * round(score / 5)


REPORT_COLUMNS = (
    Column("GROUP", lambda r: r["group"] or "(none)", 24),
    Column("FROM", lambda r: r["period_start"], 10),
    Column("EVALS", lambda r: r["evaluations"], 5, ">"),
    Column("SCORED", lambda r: r["scored"], 6, ">"),
    Column("FAILED", lambda r: r["failed"], 6, ">"),
    Column(
        "AVERAGE",
        lambda r: "-" if r["average_score"] is None else f"{r['average_score']:.1f}",
        7,
        ">",
    ),
    Column("", lambda r: _bar(r["average_score"])),
)


def cmd_forms_load(args: argparse.Namespace, ctx: Context) -> int:
    from quality.definition import load_form_file
    from quality.library import FormLibrary

    form = load_form_file(args.file)
    view = FormLibrary(ctx.services().catalogue).load(form, actor=actor())
    what = "loaded as" if view["changed"] else "unchanged: still"
    emit(args, view, lambda: print(f"form {view['form']} {what} version {view['version']}"))
    return 0


def cmd_forms_list(args: argparse.Namespace, ctx: Context) -> int:
    from quality.library import FormLibrary

    forms = FormLibrary(ctx.services().catalogue).list_forms()
    emit(args, forms, lambda: table(forms, FORM_COLUMNS, header=True, count="form(s)"))
    return 0


def cmd_forms_show(args: argparse.Namespace, ctx: Context) -> int:
    from quality.library import FormLibrary

    view = FormLibrary(ctx.services().catalogue).show(args.form)

    def human() -> None:
        fields({k: v for k, v in view.items() if k != "definition"})
        for s in view["definition"]["sections"]:
            print(f"\n[{s['id']}] {one_line(s['title'])}  (weight {s['weight']:g})")
            for q in s["questions"]:
                fails = "  FAILS THE EVALUATION on no" if q["fails_evaluation"] else ""
                print(f"  {q['id']:<28} {q['kind']:<7} {one_line(q['text'])}{fails}")

    emit(args, view, human)
    return 0


def _read_answers(path: Path) -> tuple[Any, Any]:
    from quality.errors import AnswerError

    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text()
        doc = json.loads(text)
    except OSError as exc:
        raise AnswerError(f"cannot read answers file {path}: {exc.strerror}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AnswerError(f"answers file {path} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or "answers" not in doc or set(doc) - {"answers", "comments"}:
        raise AnswerError(
            f'answers file {path}: expected {{"answers": {{question id: answer}}, '
            '"comments": [{"at": seconds, "text": "..."}]}'
        )
    return doc["answers"], doc.get("comments")


def cmd_evaluate(args: argparse.Namespace, ctx: Context) -> int:
    from quality.evaluations import Evaluations

    answers, comments = _read_answers(args.answers)
    view = Evaluations(ctx.services().catalogue).submit(
        args.recording,
        args.form,
        answers,
        comments,
        evaluator=actor(),
        kind="calibration" if args.calibration else "evaluation",
    )

    def human() -> None:
        if view["score"] is None:
            result = "not scored (no applicable answer)"
        elif view["failed_on"]:
            result = f"0 (failed on {view['failed_on']})"
        else:
            result = f"{view['score']:.1f} / 100"
        print(f"evaluation {view['id']} of {view['recording_id']} on {view['form_ref']}: {result}")

    emit(args, view, human)
    return 0


def cmd_calibration(args: argparse.Namespace, ctx: Context) -> int:
    from quality.evaluations import Evaluations

    view = Evaluations(ctx.services().catalogue).calibration(args.recording, args.form)

    def human() -> None:
        o = view["overall"]

        def num(v: float | None) -> str:
            return "-" if v is None else f"{v:.1f}"

        print(
            f"{view['form_ref']}: {o['evaluators']} evaluator(s), {o['scored']} scored; "
            f"min {num(o['min'])}, max {num(o['max'])}, mean {num(o['mean'])}, "
            f"std dev {num(o['std_dev'])}"
        )
        for q in view["questions"]:
            answers = ", ".join(f"{one_line(k)}={v}" for k, v in q["answers"].items())
            rng = "-" if q["range"] is None else f"{q['range']:.2f}"
            print(f"  {q['question']:<28} agreement {q['agreement']:.0%}  range {rng}  {answers}")

    emit(args, view, human)
    return 0


def _zone(name: str) -> tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return UTC if name.upper() == "UTC" else ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"--tz {name!r} is not a known time zone (e.g. Europe/London)") from None


def cmd_report(args: argparse.Namespace, ctx: Context) -> int:
    from quality.reports import report, write_csv
    from storage.fsutil import atomic_writer

    until = args.until or datetime.now(UTC)
    since = args.since or until - timedelta(days=90)
    rows = report(
        ctx.services().catalogue,
        by=args.by,
        period=args.period,
        since=since,
        until=until,
        tz=_zone(args.tz),
    )
    if args.csv:
        text = io.StringIO()
        write_csv(rows, text, by=args.by, period=args.period)
        with atomic_writer(args.csv) as out:
            out.write(text.getvalue().encode())
        note(f"callvault: {len(rows)} row(s) written to {args.csv}")
    data = [r.to_dict() for r in rows]
    emit(args, data, lambda: table(data, REPORT_COLUMNS, header=True, count="row(s)"))
    return 0


def register(cli: Registrar) -> None:
    qa = cli.group("qa", "QA evaluations: forms, scoring recordings, calibration, reports")
    forms = qa.group("forms", "QA forms and their versions")
    fl = forms.command(
        "load", cmd_forms_load, "load a form from TOML or JSON (new version if changed)"
    )
    fl.add_argument("file", type=Path, metavar="FILE")
    forms.command("list", cmd_forms_list, "every form's latest version")
    fs = forms.command("show", cmd_forms_show, "a form's sections and questions")
    fs.add_argument("form", metavar="FORM", help="FORM (latest version) or FORM@N")

    ev = qa.command("evaluate", cmd_evaluate, "score a recording against a form (audited)")
    ev.add_argument("recording", metavar="REC", help="the recording's ID")
    ev.add_argument("--form", required=True, metavar="F", help="FORM (latest) or FORM@N")
    ev.add_argument(
        "--answers",
        required=True,
        type=Path,
        metavar="FILE.json",
        help='{"answers": {question: "yes"|"no"|"na"|1-5|text}, "comments": [{"at": s, "text": t}]}'
        " ('-' reads stdin)",
    )
    ev.add_argument(
        "--calibration",
        action="store_true",
        help="a calibration evaluation: compared with other evaluators', left out of reports",
    )

    cal = qa.command("calibration", cmd_calibration, "the spread between a recording's evaluators")
    cal.add_argument("recording", metavar="REC")
    cal.add_argument("--form", metavar="F", help="FORM@N to compare on (default: the latest used)")

    rep = qa.command("report", cmd_report, "average scores per staff member or service over time")
    rep.add_argument("--by", required=True, choices=("staff", "service"))
    rep.add_argument("--period", default="month", choices=("week", "month"))
    rep.add_argument(
        "--since", type=parse_time, help="calls from (default: 90 days before --until)"
    )
    rep.add_argument("--until", type=parse_time, help="calls before (default: now)")
    rep.add_argument("--tz", default="UTC", help="time zone of the weeks and months (default UTC)")
    rep.add_argument("--csv", type=Path, metavar="FILE", help="also write the rows as CSV")
