"""`rdrf verify`: prove nothing is lost - re-hash every catalogued file."""

from __future__ import annotations

import json

import typer

from rdrf import context
from rdrf.console import console, progress
from rdrf.options import JsonFlag

app = typer.Typer()


@app.command()
def verify(json_: JsonFlag = False) -> None:
    """Re-hash every catalogued file; report missing, changed and unknown files. Exit 1 if any.

    Files left by an interrupted import or capture are listed as explained, not as errors.

    Example: rdrf verify
    """
    from rdrf_capture.verify import total_files, verify as run_verify

    cat = context.open_catalogue("read")
    with progress(total_files(cat), "verifying") as advance:
        report = run_verify(cat, on_file=advance)
    if json_:
        print(json.dumps({**report.__dict__, "ok": report.ok}, indent=2))
    else:
        for label, paths, style in (("missing", report.missing, "red"), ("changed", report.changed, "red"),
                                    ("unknown", report.unknown, "red"), ("interrupted (explained)", report.interrupted, "yellow")):
            for p in paths:
                console.print(f"[{style}]{label}[/]: {p}", highlight=False, soft_wrap=True)
        if report.legacy:
            console.print(f"[yellow]note[/]: {len(report.legacy)} intact file(s), {report.legacy_bytes / 1e6:.1f} MB, under aligned/ were "
                          "written by an older rdrf (warped images, valid areas) and are no longer needed; "
                          "`rdrf align --prune-legacy` removes them", highlight=False, soft_wrap=True)
        verdict = "[green]ok[/]" if report.ok else "[red]FAILED[/]"
        console.print(f"{verdict}: {report.checked} files checked, {len(report.missing)} missing, "
                      f"{len(report.changed)} changed, {len(report.unknown)} unknown, {len(report.interrupted)} interrupted")
    if not report.ok:
        raise typer.Exit(1)
