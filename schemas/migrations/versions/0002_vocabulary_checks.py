"""CHECK constraints keep every vocabulary column inside its vocabulary (schemas/vocabulary.py)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

The values are written out here, not imported: a migration describes the schema at its revision,
and must not change when the vocabulary grows later (that needs a migration of its own).
"""
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

CHECKS = {
    "scenes": {"split": "split IS NULL OR split IN ('train', 'test')"},
    "shots": {
        "role": "role IN ('gt', 'lq')",
        "degradation": "degradation IN ('raindrop', 'reflection', 'both', 'rain_streak', 'none')",
        "trigger": "trigger IN ('usb', 'remote', 'import')",
    },
    "files": {"kind": "kind IN ('original', 'developed', 'aligned', 'valid_mask', 'raindrop_mask')"},
    "pairs": {"status": "status IN ('pending', 'ok', 'rejected', 'failed')"},
    "alignments": {
        "status": "status IN ('ok', 'rejected', 'failed')",
        "mask_method": "mask_method IS NULL OR mask_method IN ('default', 'agan')",
    },
    "exports": {
        "split": "split IN ('train', 'test', 'all')",
        "format": "format IN ('folder', 'imagefolder', 'webdataset')",
    },
}


def upgrade() -> None:
    for table, checks in CHECKS.items():
        with op.batch_alter_table(table) as batch:
            for name, condition in checks.items():
                batch.create_check_constraint(name, condition)


def downgrade() -> None:
    for table, checks in CHECKS.items():
        with op.batch_alter_table(table) as batch:
            for name in checks:
                batch.drop_constraint(f"ck_{table}_{name}", type_="check")
