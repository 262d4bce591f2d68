"""The reflection layer: a file kind of its own, and the alignment's pointer to it

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

An alignment now stores, next to its raindrop mask, a small map of the reflection layer the mask
method explained away (rdrf_align.registration.masks.reflection_map). The files.kind check is
widened to 'reflection' and alignments gain reflection_file_id. Values are written out, as in 0002.
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

KINDS_BEFORE = "kind IN ('original', 'developed', 'aligned', 'valid_mask', 'raindrop_mask')"
KINDS_AFTER = "kind IN ('original', 'developed', 'aligned', 'valid_mask', 'raindrop_mask', 'reflection')"


def _kind_check(condition: str) -> None:
    with op.batch_alter_table('files') as batch:
        batch.drop_constraint('kind', type_='check')  # the naming convention adds ck_files_
        batch.create_check_constraint('kind', condition)


def upgrade() -> None:
    _kind_check(KINDS_AFTER)
    with op.batch_alter_table('alignments') as batch:
        batch.add_column(sa.Column('reflection_file_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_alignments_reflection_file_id_files', 'files', ['reflection_file_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('alignments') as batch:
        batch.drop_constraint('fk_alignments_reflection_file_id_files', type_='foreignkey')
        batch.drop_column('reflection_file_id')
    op.execute("DELETE FROM files WHERE kind = 'reflection'")
    _kind_check(KINDS_BEFORE)
