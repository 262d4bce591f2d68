"""`rdrf report`: one self-contained HTML page to check before trusting the data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from rdrf import context
from rdrf.console import progress, say
from rdrf.options import default_workers

app = typer.Typer()


@app.command()
def report(
    out: Annotated[Optional[Path], typer.Option(help="Report folder (default: reports/ in the workspace).")] = None,
    workers: Annotated[int, typer.Option(help="Parallel image workers.")] = default_workers(),
) -> None:
    """Write the QA report: contact sheets per scene, category chart, alignment histograms, rejected pairs.

    Open report.html in a browser; it is self-contained (figures embedded).

    Example: rdrf report --out /tmp/qa
    """
    from rdrf_align.dataset.facts import report_facts
    from rdrf_align.report.page import build_report
    from rdrf_align.report.plan import plan_report

    from schemas.workspace import is_writable, read_only_error

    cat = context.open_catalogue("read")  # only the report folder is written
    if out is None and not is_writable(cat.workspace.reports if cat.workspace.reports.is_dir() else cat.workspace.root):
        raise read_only_error(cat.workspace.reports)
    plan = plan_report(cat, out, **report_facts(cat))
    with progress(plan.steps, "report") as advance:
        path = build_report(plan, workers=workers, advance=advance)
    say(f"report written to [bold]{path}[/]")
    print(path)
