"""What the QA report shows about the dataset, computed here and handed to it by the CLI
(`plan_report(cat, out, **report_facts(cat))`), so that report never imports dataset."""

from __future__ import annotations

from rdrf_align.dataset.digest import catalogue_digest
from rdrf_align.dataset.splits import file_leaks, label_key
from schemas.workspace import Catalogue


def report_facts(catalogue: Catalogue) -> dict:
    """The catalogue digest, the files found in both splits, and the natural order of scene labels."""
    with catalogue.session() as session:
        return {
            "digest": catalogue_digest(session),
            "leaks": [str(leak) for leak in file_leaks(session)],
            "scene_key": label_key,
        }
