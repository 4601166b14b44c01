"""series pairing: frame of reference and contrast per series, T1 companion per job

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 09:00:00

Why: a T2 (or STIR) job loads a T1 series of the same study and frame of reference for Modic typing.
The scheduler finds that series in the index, so each series row keeps its FrameOfReferenceUID and
contrast hint, and each job the companion it was queued with. Rows from before this revision have no
hint (NULL) and simply never pair.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("series", schema=None) as batch_op:
        batch_op.add_column(sa.Column("frame_of_reference_uid", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("contrast", sa.String(length=8), nullable=True))
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("companion_series_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("companion_digest", sa.String(length=64), nullable=True))
        batch_op.create_foreign_key("fk_jobs_companion_series", "series", ["companion_series_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_constraint("fk_jobs_companion_series", type_="foreignkey")
        batch_op.drop_column("companion_digest")
        batch_op.drop_column("companion_series_id")
    with op.batch_alter_table("series", schema=None) as batch_op:
        batch_op.drop_column("contrast")
        batch_op.drop_column("frame_of_reference_uid")
