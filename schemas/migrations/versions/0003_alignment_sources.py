"""Alignments name the images they were computed from; the warped image is no longer stored

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30

`rdrf align` stops writing the warped degraded image and the valid-area PNG (both are derived from
the homography on demand), so what the warp is rendered from must be pinned: `gt_file_id` and
`lq_file_id` name the two images the homography maps between. Rows written before this revision keep
them NULL (their shots' images are what they were computed from) and keep their `aligned_file_id` /
`valid_mask_file_id` and File rows (kinds 'aligned' and 'valid_mask' stay in the vocabulary), so
nothing an older version wrote is lost or misreported; `rdrf align --prune-legacy` removes them.
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

COLUMNS = ("gt_file_id", "lq_file_id")


def upgrade() -> None:
    with op.batch_alter_table("alignments") as batch:
        for col in COLUMNS:
            batch.add_column(sa.Column(col, sa.Integer(), nullable=True))
            batch.create_foreign_key(f"fk_alignments_{col}_files", "files", [col], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("alignments") as batch:
        for col in COLUMNS:
            batch.drop_constraint(f"fk_alignments_{col}_files", type_="foreignkey")
            batch.drop_column(col)
