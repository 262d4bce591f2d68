"""What the QA report shows about the dataset, computed here and handed to it by the CLI
(`plan_report(cat, out, **report_facts(cat))`), so that report never imports dataset."""

from __future__ import annotations

from rdrf_align.dataset.digest import catalogue_digest
from rdrf_align.dataset.splits import file_leaks
from schemas.workspace import Catalogue


def report_facts(catalogue: Catalogue) -> dict:
    """The catalogue digest and the files found in both splits."""
    with catalogue.session() as session:
        return {
            "digest": catalogue_digest(session),
            "leaks": [str(leak) for leak in file_leaks(session)],
        }
