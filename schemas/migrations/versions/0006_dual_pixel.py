"""Dual-pixel views: file kinds for a shot's left/right views and their masks, the alignment's pointers

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

Issue 16 (DPRRN): a shot may carry its two half-aperture views as files of its own ('view_left',
'view_right'), and `rdrf align` stores a raindrop mask per view ('mask_left', 'mask_right') that the
alignment points to (mask_left_file_id, mask_right_file_id). Values are written out, as in 0002.
The downgrade refuses a catalogue that holds any of these files rather than drop them.
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

KINDS_BEFORE = ['original', 'developed', 'aligned', 'valid_mask', 'raindrop_mask', 'reflection']
NEW_KINDS = ['view_left', 'view_right', 'mask_left', 'mask_right']


def _kind_check(kinds: list[str]) -> None:
    with op.batch_alter_table('files') as batch:
        batch.drop_constraint('kind', type_='check')  # the naming convention adds ck_files_
        batch.create_check_constraint('kind', f"kind IN ({', '.join(repr(k) for k in kinds)})")


def upgrade() -> None:
    _kind_check(KINDS_BEFORE + NEW_KINDS)
    with op.batch_alter_table('alignments') as batch:
        for side in ('left', 'right'):
            batch.add_column(sa.Column(f'mask_{side}_file_id', sa.Integer(), nullable=True))
            batch.create_foreign_key(f'fk_alignments_mask_{side}_file_id_files', 'files', [f'mask_{side}_file_id'], ['id'])


def downgrade() -> None:
    listed = ', '.join(repr(k) for k in NEW_KINDS)
    if op.get_bind().execute(sa.text(f"SELECT count(*) FROM files WHERE kind IN ({listed})")).scalar():
        raise RuntimeError("the catalogue holds dual-pixel views or view masks, which revision 0005 cannot store; "
                           "nothing was changed")
    with op.batch_alter_table('alignments') as batch:
        for side in ('left', 'right'):
            batch.drop_constraint(f'fk_alignments_mask_{side}_file_id_files', type_='foreignkey')
            batch.drop_column(f'mask_{side}_file_id')
    _kind_check(KINDS_BEFORE)
