"""Finer statistics on the upper-cased basenames and target names that the contains-searches match."""

from django.db import migrations

# The planner estimates `UPPER(x) LIKE '%...%'` from the histogram of the trigram index's expression. With the
# default 100 buckets every bucket a pattern happens to match counts for 1 % of the table: a name held by a hundred
# frames was estimated at 7,700 of a million, and the page then walked the whole observation-date index looking
# for them (300-800 ms). 1,000 buckets make a bucket 0.1 % and keep the estimates within a factor of two.
# ANALYZE then samples 300,000 rows instead of 30,000 (about 7 s at a million frames instead of 1 s).
TRIGRAM_INDEXES = ("frame_basename_trgm_idx", "frame_target_trgm_idx")
STATISTICS = 1000


def statistics_sql(target: int) -> list[str]:
    return [f"ALTER INDEX {name} ALTER COLUMN 1 SET STATISTICS {target}" for name in TRIGRAM_INDEXES] + [
        "ANALYZE frames_frame"
    ]


class Migration(migrations.Migration):
    # Each statement in its own transaction: an ANALYZE in the transaction that changed the statistics target still
    # uses the old one (PostgreSQL 15 keeps the index's target from before the ALTER until the transaction ends).
    atomic = False

    dependencies = [
        ("frames", "0003_file_deletions"),
    ]

    operations = [
        migrations.RunSQL(statistics_sql(STATISTICS), reverse_sql=statistics_sql(-1)),
    ]
