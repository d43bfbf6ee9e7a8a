"""The proposal index carries public_date, so that counting a proposal's frames reads the index alone."""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models

# frames_frame is the largest table: a plain CREATE INDEX holds off every ingest and deletion for the whole build
# (minutes at millions of rows), and a plain DROP INDEX waits behind the running reads while holding off all new ones.
# CONCURRENTLY builds and drops without blocking writes, which PostgreSQL allows only outside a transaction, hence
# `atomic = False`. The new index is built under another name and renamed once the old one is gone, so that proposal
# queries have an index throughout. Should a build fail, it leaves an INVALID index under the interim name: drop it
# (DROP INDEX CONCURRENTLY frame_prop_obsdate_new_idx) before migrating again.
# The schema this gives is the one the plain RemoveIndex/AddIndex pair gave, so databases already past this migration
# need nothing.
INTERIM_NAME = "frame_prop_obsdate_new_idx"


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("frames", "0004_trigram_statistics"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="frame",
            index=models.Index(
                fields=["proposal_id", "observation_date", "id"],
                include=("public_date",),
                name=INTERIM_NAME,
            ),
        ),
        RemoveIndexConcurrently(
            model_name="frame",
            name="frame_prop_obsdate_idx",
        ),
        migrations.RenameIndex(
            model_name="frame",
            new_name="frame_prop_obsdate_idx",
            old_name=INTERIM_NAME,
        ),
    ]
