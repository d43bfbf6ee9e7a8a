"""`python -m bench.generate --frames N`: the synthetic archive, loaded through COPY into the bench database.

The database (default `archive_bench`) is dropped, created and migrated with `manage.py migrate`, then filled chunk by
chunk: frames, their version, their headers and their related-frame links (both directions, as the ingest writes
them) go through PostgreSQL COPY, never the ORM, while the next chunk is being drawn. Then VACUUM ANALYZE, the
all-frames aggregate (`manage.py cacheaggregates`) and the bench users. What was generated, and the load's own
figures, are kept in the table `bench_dataset` so that later runs can reuse the database.
"""

import argparse
import datetime
import io
import json
import queue
import resource
import threading

from psycopg2 import sql

from bench import dataset
from bench.common import (
    DEFAULT_FRAMES,
    DEFAULT_SEED,
    Stopwatch,
    add_database_argument,
    bench_users,
    check_database_name,
    connect,
    heading,
    human_bytes,
    manage,
    now_iso,
    print_table,
    say,
    server_connect,
)
from bench.report import record

MB = 1_000_000
FRAME_COLUMNS = (
    "id",
    "basename",
    "area",
    "observation_date",
    "observation_day",
    "proposal_id",
    "instrument_id",
    "target_name",
    "site_id",
    "telescope_id",
    "primary_optical_element",
    "configuration_type",
    "reduction_level",
    "exposure_time",
    "public_date",
    "observation_id",
    "request_id",
    "created",
    "modified",
)
VERSION_COLUMNS = ("id", "frame_id", "key", "md5", "extension", "store_path", "created")
HEADER_COLUMNS = ("id", "frame_id", "data")
LINK_COLUMNS = ("from_frame_id", "to_frame_id")
TABLES = (
    ("frames_frame", FRAME_COLUMNS),
    ("frames_version", VERSION_COLUMNS),
    ("frames_headers", HEADER_COLUMNS),
    ("frames_frame_related_frames", LINK_COLUMNS),
)
SEQUENCES = ("frames_frame", "frames_version", "frames_headers", "frames_frame_related_frames")
# What was generated, and the load's own figures: later runs reuse the archive and still report them.
DATASET_TABLE = (
    "CREATE TABLE IF NOT EXISTS bench_dataset (generated_at timestamptz NOT NULL DEFAULT now(), info jsonb NOT NULL)"
)


# --- COPY rows -------------------------------------------------------------------------------------------------------


def _utc(value: str) -> str:
    return value + "Z"


def frame_line(r: dict) -> str:
    values = (
        r["id"],
        r["basename"],
        r["area"],
        _utc(r["observation_date"]),
        r["observation_day"],
        r["proposal_id"],
        r["instrument_id"],
        r["target_name"],
        r["site_id"],
        r["telescope_id"],
        r["primary_optical_element"],
        r["configuration_type"],
        r["reduction_level"],
        r["exposure_time"],
        _utc(r["public_date"]),
        r["observation_id"],
        r["request_id"],
        _utc(r["created"]),
        _utc(r["created"]),
    )
    return "\t".join(map(str, values)) + "\n"


def version_line(r: dict) -> str:
    return (
        f"{r['id']}\t{r['id']}\t{r['key']}\t{r['md5']}\t{dataset.EXTENSION}\t{r['store_path']}\t{_utc(r['created'])}\n"
    )


def header_line(r: dict) -> str:
    # COPY's text format reads backslashes as escapes; JSON only has them inside escaped strings.
    return f"{r['id']}\t{r['id']}\t{r['headers'].replace(chr(92), chr(92) * 2)}\n"


def link_lines(r: dict) -> str:
    frame_id = r["id"]
    return "".join(f"{frame_id}\t{other}\n{other}\t{frame_id}\n" for other in r["related_ids"])


def copy_texts(records: list[dict]) -> list[str]:
    """The COPY input of each table of TABLES for these frames (ids are the records' own)."""
    return [
        "".join(map(frame_line, records)),
        "".join(map(version_line, records)),
        "".join(map(header_line, records)),
        "".join(map(link_lines, records)),
    ]


def copy_into(cursor, texts: list[str]) -> None:
    for (table, columns), text in zip(TABLES, texts, strict=True):
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        # Bytes, not a StringIO: that would hold the text as 4 bytes a character while COPY reads it.
        cursor.copy_expert(statement, io.BytesIO(text.encode("ascii")))


def row_count(texts: list[str]) -> int:
    return sum(text.count("\n") for text in texts)


class CopyPipeline:
    """COPY in a thread of its own, one transaction per chunk, while the caller draws the next chunk: the database
    parses and indexes on one core while Python generates on the other."""

    def __init__(self, connection):
        self.connection = connection
        self.queue: queue.Queue = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            with self.connection.cursor() as cursor:
                while (texts := self.queue.get()) is not None:
                    copy_into(cursor, texts)
                    self.connection.commit()
        except BaseException as exc:  # handed to the producer, which re-raises it
            self.error = exc

    def put(self, texts: list[str] | None) -> None:
        while self.thread.is_alive():
            try:
                self.queue.put(texts, timeout=0.5)
                return
            except queue.Full:
                continue
        raise RuntimeError("the COPY thread stopped") from self.error

    def close(self) -> None:
        self.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error


# --- the database ----------------------------------------------------------------------------------------------------


def drop_database(database: str, *, create: bool = False) -> None:
    """Drop a bench database (its connections closed by force), and create it empty again when `create`."""
    check_database_name(database)
    connection = server_connect(database)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
            if create:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    finally:
        connection.close()


def recreate_database(database: str) -> None:
    """Drop and create the bench database, then migrate it as an operator would."""
    drop_database(database, create=True)
    manage(database, "migrate", "--noinput", "-v", "0")


# The tables reset_to_generated deletes from: vacuumed and analyzed afterwards.
RESET_TABLES = (
    "frames_frame",
    "frames_version",
    "frames_headers",
    "frames_frame_related_frames",
    "frames_thumbnail",
    "frames_outboxmessage",
    "frames_filedeletion",
)


def reset_to_generated(database: str) -> int:
    """Remove whatever the benchmarks added after generation (frames above the generated ids, their rows, queued
    notifications and deletions), so that every run measures the generated archive; then VACUUM (ANALYZE) the tables
    deleted from, so that plans and timings do not depend on the dead rows of an earlier run. Returns the frames
    removed."""
    from bench.common import Stopwatch, require_dataset

    last_id = require_dataset(database)["last_frame_id"]
    connection = connect(database)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM frames_frame_related_frames WHERE from_frame_id > %(id)s OR to_frame_id > %(id)s",
                {"id": last_id},
            )
            for table in ("frames_headers", "frames_version", "frames_thumbnail"):
                cursor.execute(f"DELETE FROM {table} WHERE frame_id > %s", [last_id])
            cursor.execute("DELETE FROM frames_outboxmessage")
            cursor.execute("DELETE FROM frames_filedeletion")
            cursor.execute("DELETE FROM frames_frame WHERE id > %s", [last_id])
            removed = cursor.rowcount
        connection.commit()
        connection.autocommit = True  # VACUUM runs outside a transaction
        with connection.cursor() as cursor, Stopwatch() as watch:
            cursor.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.SQL(", ").join(map(sql.Identifier, RESET_TABLES))))
    finally:
        connection.close()
    say(f"  reset to the generated archive: {removed:,} frame(s) removed; VACUUM (ANALYZE) in {watch.seconds:.2f} s")
    return removed


def _finish_sequences(cursor) -> None:
    for table in SEQUENCES:
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), GREATEST((SELECT max(id) FROM {table}), 1))"
        )


def _sizes(cursor, frames: int) -> dict:
    cursor.execute(
        "SELECT pg_database_size(current_database()), pg_total_relation_size('frames_headers'), "
        "pg_total_relation_size('frames_frame'), pg_indexes_size('frames_frame'), "
        "pg_total_relation_size('frames_version'), pg_total_relation_size('frames_frame_related_frames')"
    )
    database, headers, frame_table, frame_indexes, versions, links = cursor.fetchone()
    per_million = 1_000_000 / frames
    return {
        "database_bytes": database,
        "database_bytes_per_million_frames": round(database * per_million),
        "headers_bytes": headers,
        "headers_bytes_per_million_frames": round(headers * per_million),
        "frames_table_bytes": frame_table,
        "frames_indexes_bytes": frame_indexes,
        "versions_table_bytes": versions,
        "links_table_bytes": links,
    }


def _distribution(cursor) -> list[dict]:
    """The generated shares of each configuration type, to compare with the issue's."""
    cursor.execute(
        "SELECT configuration_type, count(*), avg((public_date < now())::int) FROM frames_frame "
        "WHERE observation_date IS NOT NULL GROUP BY 1 ORDER BY 2 DESC"
    )
    rows = cursor.fetchall()
    total = sum(count for _, count, _ in rows)
    expected = dict(zip(dataset.TYPE_NAMES, dataset.TYPE_WEIGHTS, strict=True))
    return [
        {
            "type": name,
            "frames": count,
            "share": round(100 * count / total, 2),
            "issue": round(100 * expected.get(name, 0), 2),
            "public_now": round(100 * float(public), 1),
        }
        for name, count, public in rows
    ]


# --- the generator ---------------------------------------------------------------------------------------------------


def _progress(done: int, total: int, watch: Stopwatch, nbytes: int) -> None:
    rate = done / watch.elapsed
    eta = (total - done) / rate if rate else 0
    say(
        f"  {done:>11,} / {total:,} frames ({100 * done / total:3.0f} %)  {rate:8,.0f} frames/s  "
        f"{nbytes / MB / watch.elapsed:6.1f} MB/s  ETA {eta / 60:4.1f} min"
    )


def load(database: str, plan: dataset.Plan, targets: dataset.Targets) -> dict:
    """COPY every frame of the plan, chunk by chunk; returns rows, bytes and the time it took."""
    connection = connect(database)
    rows = nbytes = done = 0
    next_report = 0.0
    try:
        with Stopwatch() as watch:
            pipeline = CopyPipeline(connection)
            try:
                for records in dataset.records(plan, targets):
                    texts = copy_texts(records)
                    rows += row_count(texts)
                    nbytes += sum(map(len, texts))
                    pipeline.put(texts)
                    done += len(records)
                    if watch.elapsed >= next_report:
                        _progress(done, plan.count, watch, nbytes)
                        next_report = watch.elapsed + 15
            finally:
                pipeline.close()
    finally:
        connection.close()
    return {"frames": done, "rows": rows, "bytes": nbytes, "seconds": round(watch.seconds, 2)}


def generate(*, frames: int, seed: int, database: str, end: datetime.datetime) -> dict:
    """Create the bench database with `frames` synthetic frames and return what was generated and measured."""
    heading(
        f"Generate {frames:,} frames (seed {seed}, observations in the 5 years before {end:%Y-%m-%d}) into {database}"
    )
    with Stopwatch() as total:
        say("  creating and migrating the database")
        recreate_database(database)
        start, end = dataset.window_before(end)
        plan = dataset.make_plan(count=frames, seed=seed, start=start, end=end)
        targets = dataset.make_targets(seed)
        loaded = load(database, plan, targets)
        connection = connect(database, autocommit=True)
        try:
            with connection.cursor() as cursor:
                _finish_sequences(cursor)
                say("  VACUUM ANALYZE")
                with Stopwatch() as vacuum:
                    cursor.execute("VACUUM ANALYZE")
                sizes = _sizes(cursor, frames)
                distribution = _distribution(cursor)
                cursor.execute("SELECT count(*) FROM frames_frame_related_frames")
                links = cursor.fetchone()[0]
                say("  manage.py cacheaggregates")
                with Stopwatch() as aggregates:
                    manage(database, "cacheaggregates")
                sample = next(dataset.records(plan, targets, 0, 1))[0]
                info = {
                    "frames": frames,
                    "seed": seed,
                    "end": end.date().isoformat(),
                    "last_frame_id": plan.first_id + frames - 1,
                    "header_keys": len(json.loads(sample["headers"])),
                    "link_rows": links,
                    "generated_at": now_iso(),
                    "load": {
                        **loaded,
                        "frames_per_second": round(loaded["frames"] / loaded["seconds"]),
                        "rows_per_second": round(loaded["rows"] / loaded["seconds"]),
                        "mb_per_second": round(loaded["bytes"] / MB / loaded["seconds"], 1),
                    },
                    "vacuum_analyze_seconds": round(vacuum.seconds, 1),
                    "cacheaggregates_seconds": round(aggregates.seconds, 1),
                    "sizes": sizes,
                    "distribution": distribution,
                }
                cursor.execute(DATASET_TABLE)
                cursor.execute("INSERT INTO bench_dataset (info) VALUES (%s)", [json.dumps(info)])
        finally:
            connection.close()
        bench_users(database)
    info["total_seconds"] = round(total.seconds, 1)
    info["generator_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print_figures(info)
    return info


def print_figures(info: dict) -> None:
    load_ = info["load"]
    sizes = info["sizes"]
    say(
        f"\n  COPY: {load_['frames']:,} frames, {load_['rows']:,} rows, {human_bytes(load_['bytes'])} in "
        f"{load_['seconds']:.1f} s = {load_['frames_per_second']:,} frames/s, {load_['rows_per_second']:,} rows/s, "
        f"{load_['mb_per_second']} MB/s"
    )
    say(
        f"  VACUUM ANALYZE {info['vacuum_analyze_seconds']} s; cacheaggregates {info['cacheaggregates_seconds']} s; "
        f"{info['header_keys']} header keys a frame; {info['link_rows']:,} link rows; "
        f"generator's peak memory {info.get('generator_peak_rss_mb')} MB"
    )
    say(
        f"  database {human_bytes(sizes['database_bytes'])} "
        f"({human_bytes(sizes['database_bytes_per_million_frames'])} per million frames); headers table "
        f"{human_bytes(sizes['headers_bytes'])} ({human_bytes(sizes['headers_bytes_per_million_frames'])} per million)"
    )
    print_table(
        info["distribution"],
        [
            ("type", "type"),
            ("frames", "frames"),
            ("share", "share %"),
            ("issue", "issue %"),
            ("public_now", "public %"),
        ],
    )


def default_end() -> datetime.datetime:
    """Observations end at today's UTC midnight: a seed and a date give the same archive."""
    return datetime.datetime.combine(datetime.datetime.now(datetime.UTC).date(), datetime.time(), datetime.UTC)


def parse_end(value: str) -> datetime.datetime:
    return datetime.datetime.combine(datetime.date.fromisoformat(value), datetime.time(), datetime.UTC)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES, help="how many frames (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default 8)")
    parser.add_argument("--end-date", type=parse_end, default=None, help="last day of observations (default today)")
    add_database_argument(parser)
    args = parser.parse_args(argv)
    check_database_name(args.database)
    info = generate(frames=args.frames, seed=args.seed, database=args.database, end=args.end_date or default_end())
    record("generate", info, database=args.database)


if __name__ == "__main__":
    main()
