"""`python -m bench.report`: bench/results/latest.md, the table of figures and targets, from latest.json."""

import json
import os

from bench.common import RESULTS_DIR, dataset_info, human_bytes, machine, now_iso

MB = 1_000_000


def _table(rows: list[list], header: list[str]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join("-" if cell is None else str(cell) for cell in row) + " |" for row in rows]
    return lines + [""]


def _stages(stages: list[dict], unit: str) -> list[str]:
    return _table(
        [[stage["stage"], stage["ms_per_request"], stage["percent"]] for stage in stages], ["stage", unit, "%"]
    )


def _scale(section: dict) -> str:
    frames = section.get("scale_frames")
    return f"at {frames:,} frames" if frames else "(no generated archive)"


def _header(results: dict) -> list[str]:
    machine = results.get("machine", {})
    sections = results.get("sections", {})
    scales = {section.get("scale_frames") for section in sections.values() if section.get("scale_frames")}
    scale = ", ".join(f"{frames:,}" for frames in sorted(scales)) or "unknown"
    return [
        "# Benchmark results",
        "",
        f"- **Scale: {scale} frames** (`make bench`, the distribution of bench/dataset.py)",
        f"- Date: {results.get('started_at')} (UTC); commit {machine.get('commit')}",
        f"- Machine: {machine.get('cores')} cores ({machine.get('cpu')}), {machine.get('memory_gb')} GB memory; "
        f"Python {machine.get('python')}; {machine.get('os')}",
        f"- Load average when the run started: {machine.get('load_average')} (each section notes its own)",
        "- Client, gunicorn and PostgreSQL on the same machine, over loopback. gunicorn runs as deployed "
        "(gunicorn.conf.py's gthread workers and threads, 2 workers for the 2 cores, a memcached of its own) but for "
        "the downloads (sync workers) and the queries' second column (sync workers, for comparison).",
        "",
    ]


def _generate(section: dict) -> list[str]:
    load, sizes = section["load"], section["sizes"]
    lines = [f"## Generator {_scale(section)}", ""]
    if section.get("reused"):
        lines += ["Reused the database generated earlier with the same scale and seed; its figures then:", ""]
    rows = [
        [
            "COPY",
            f"{load['frames_per_second']:,} frames/s, {load['rows_per_second']:,} rows/s, {load['mb_per_second']} MB/s",
        ],
        ["VACUUM ANALYZE", f"{section['vacuum_analyze_seconds']} s"],
        ["cacheaggregates", f"{section['cacheaggregates_seconds']} s"],
        ["database size per million frames", human_bytes(sizes["database_bytes_per_million_frames"])],
        ["headers table per million frames", human_bytes(sizes["headers_bytes_per_million_frames"])],
        ["header keys per frame, link rows", f"{section['header_keys']}, {section['link_rows']:,}"],
    ]
    return lines + _table(rows, ["figure", "value"])


def _queries(section: dict) -> list[str]:
    lines = [
        f"## Queries {_scale(section)}",
        "",
        f"p50/p95 over {section['requests_per_query']} requests each, 100 frames a page with URLs, against "
        f"{section.get('server', 'gunicorn')} (as deployed); sync p50/p95: the same requests against "
        f"{section.get('sync_server', 'sync workers')}. SQL main: the request's statement on frames; SQL all: every "
        "statement of the request (EXPLAIN ANALYZE); HTTP/SQL: HTTP p50 (as deployed) over SQL-all p50.",
        "",
    ]
    warmed = section.get("prewarmed")
    if warmed:
        lines[-1:-1] = [
            f"Caches: frames, versions and links with their indexes read into the page cache first "
            f"(pg_prewarm, {warmed['bytes'] / 1e9:.2f} GB), as on a server that has been answering for a while."
            if warmed.get("done")
            else f"Caches: not prewarmed ({warmed.get('reason')}); the first queries read from the disk.",
        ]
    rows = [
        [
            row["query"],
            row["user"],
            row["http_p50_ms"],
            row["http_p95_ms"],
            row.get("sync_http_p50_ms"),
            row.get("sync_http_p95_ms"),
            f"< {row['target_p95_ms']:g}" if row["target_p95_ms"] else "-",
            row["verdict"],
            row.get("sql_main_p50_ms"),
            row.get("sql_all_p50_ms"),
            row.get("ratio"),
            row.get("sql_statements"),
        ]
        for row in section["rows"]
    ]
    header = ["query", "user", "p50 ms", "p95 ms", "sync p50", "sync p95", "target p95", "verdict"]
    header += ["SQL main", "SQL all", "HTTP/SQL", "stmts"]
    lines += _table(rows, header)
    for name, data in section.get("spatial", {}).items():
        lines.append(f"- `{name}` uses the GiST index: {'yes' if data['uses_gist'] else '**no**'}")
    page = section.get("page_profile")
    if page:
        lines += [
            "",
            f"Where the time of a page of `{page['path']}` goes (anonymous, in-process, "
            f"{page['ms_per_page_in_process']} ms a page unprofiled; cProfile):",
            "",
            *_stages(page["stages"], "ms per page (profiled)"),
        ]
    deployed = section.get("deployed_page_profile")
    if deployed:
        lines += [
            f"The same page inside {deployed['server']}, each request profiled (cProfile) in the worker thread "
            f"that serves it: {deployed['ms_per_page_profiled_in_worker']} ms a page profiled in the worker; over "
            f"HTTP, p50 {deployed['http_p50_ms_profiled']} ms profiled, {deployed['http_p50_ms_unprofiled']} ms "
            "unprofiled (a server of the same settings):",
            "",
            *_stages(deployed["stages"], "ms per page (profiled)"),
        ]
        costs = ", ".join(f"{name} {value}" for name, value in section["per_frame_us"].items())
        lines.append(f"Per frame of a page, in microseconds: {costs}.")
    return lines + [""]


def _ingest(section: dict) -> list[str]:
    lines = [f"## Ingest {_scale(section)}", ""]
    rows = [
        [
            f"POST /frames/, {r['clients']} client(s)",
            r["frames_per_second"],
            r["p50_ms"],
            r["p95_ms"],
            f">= {r['target_frames_per_second']}",
            r["verdict"],
        ]
        for r in section["api"]
    ]
    rows += [
        [
            f"floor: a transaction a frame, psycopg2, {r['writers']} writer(s)",
            r["frames_per_second"],
            r["p50_ms"],
            r["p95_ms"],
            "-",
            "-",
        ]
        for r in section["floor"]
    ]
    rows.append(["limit: COPY of the same rows", section["copy_same_rows"]["frames_per_second"], None, None, "-", "-"])
    rows.append(["generator's COPY", section["generator_copy"]["frames_per_second"], None, None, "-", "-"])
    lines += _table(rows, ["how", "frames/s", "p50 ms", "p95 ms", "target", "verdict"])
    for clients, shares in section["cpu"].items():
        lines.append(
            f"- CPU during the {clients}-client run: client {shares['client_percent']} %, gunicorn "
            f"{shares['server_percent']} %, database and the rest {shares['rest_percent']} %, idle "
            f"{shares['idle_percent']} %"
        )
    profile = section["profile"]
    lines.append(
        f"- In-process, no HTTP: {profile['frames_per_second_in_process']} frames/s; "
        f"{profile['statements_per_post']} statements and {profile['commits_per_post']} COMMITs per POST. "
        "Where a POST's time goes (cProfile):"
    )
    lines.append("")
    return lines + _stages(profile["stages"], "ms per POST (profiled)")


def _downloads(section: dict) -> list[str]:
    lines = [
        f"## Downloads: zip of {section['files']} x {section['file_mb']} MB",
        "",
        "Raw read: the same files read one after the other, local ones cold from the disk (dropped from the page "
        "cache first), S3 ones by GetObject from moto. File URLs: the same files fetched one by one by their "
        "download URL. Zip in-process: the view's stream consumed without HTTP. MB = 10^6 bytes.",
        "",
    ]
    rows = [
        [
            s["store"],
            s["zip_mb_per_second"],
            s["raw_mb_per_second"],
            s["share_of_raw"],
            s["urls_mb_per_second"],
            s.get("in_process_mb_per_second"),
            s["peak_rss_growth_mb"],
            s["verdict"],
        ]
        for s in section["stores"]
    ]
    header = [
        "store",
        "zip MB/s",
        "raw read MB/s",
        "zip/raw",
        "file URLs MB/s",
        "zip in-process MB/s",
        "peak RSS growth MB",
        "verdict",
    ]
    lines += _table(rows, header)
    framings = ", ".join(f"{s['store']}: {s.get('zip_framing')}" for s in section["stores"])
    lines.append(f"- Zip responses sent as: {framings}.")
    slow = section["slow_client"]
    outcome = "cut short by the server" if slow["broken"] else ("complete" if slow["complete"] else "still streaming")
    lines.append(
        f"- Slow client (10 MB/s) against sync workers with gunicorn's default `--timeout 30` (why the deployment runs "
        f"gthread workers): {slow['bytes'] / MB:,.0f} MB in "
        f"{slow['seconds']} s, {outcome}."
    )
    query = section.get("zip_by_query")
    if query:
        lines.append(
            f"- Resumable zip by query (GET, local store, laid out up front: {query['ranged']}): "
            f"{query['bytes'] / MB:,.0f} MB at {query['mb_per_second']} MB/s, {query['share_of_raw']} of the raw read, "
            f"peak RSS growth {query['peak_rss_growth_mb']} MB; its second half resumed (HTTP "
            f"{query['resume_status']}) at {query['resume_mb_per_second']} MB/s, joining into the same bytes: "
            f"{query['resume_joins_same_bytes']}; sizes and CRC-32 of the files read in {query['checksum_seconds']} s."
        )
    return lines + [""]


def _exports(section: dict) -> list[str]:
    lines = ["## Exports: a search as CSV", "", "Every row streamed, walked by keyset; gunicorn as deployed.", ""]
    rows = [
        [e["rows"], e["mb"], e["seconds"], e["rows_per_second"], e["peak_rss_growth_mb"]] for e in section["exports"]
    ]
    lines += _table(rows, ["rows", "MB", "s", "rows/s", "peak RSS growth MB"])
    lines.append(f"- Peak RSS growth at the largest export over the smallest: {section['rss_growth_ratio']}.")
    return lines + [""]


def _datalab(section: dict) -> list[str]:
    lines = []
    if "ratio" in section:
        lines += _datalab_combine(section)
    elif section.get("reason"):
        lines += ["## Datalab", "", f"Not available: {section['reason']}.", ""]
    for key, renderer in (
        ("operation", _datalab_operation),
        ("memory", _datalab_memory),
        ("submission", _datalab_submission),
    ):
        part = section.get(key)
        if part is None:
            continue
        if part.get("available") is False:
            lines += [f"## Datalab {key}", "", f"Not available: {part['reason']}.", ""]
        else:
            lines += renderer(part)
    return lines


def _datalab_combine(section: dict) -> list[str]:
    height, width = section["shape"]
    lines = [
        f"## Datalab: median combine of {section['frames']} frames of {height} x {width}",
        "",
        f"Timed: {section['timed']}. Seeded frames (seed {section['seed']}: sky, noise, stars) with "
        f"{section['nan_pixels']} NaN bad pixels in frame {section['nan_frame']}; ours reads them from float32 memory "
        f"maps (memory budget {section['memory_budget_mb']} MB a strip), numpy gets them as in-memory arrays. Runs "
        "interleaved; ratios of the best times; peak allocation by tracemalloc in an untimed run.",
        "",
    ]
    rows = [
        ["`median_combine`, from memory maps", "combine"],
        [
            f"same, a {section['edge_band_columns']}-column NaN band in one frame (NaN in every strip)",
            "combine_band",
        ],
        ["`np.median(np.stack(arrays), axis=0)`", "numpy_median"],
        ["`np.nanmedian(np.stack(arrays), axis=0)`", "numpy_nanmedian"],
    ]
    table = [
        [label, section[key]["best_s"], section[key]["median_s"], section[key].get("peak_allocation_mb")]
        for label, key in rows
    ]
    lines += _table(table, ["how", "best s", "median s", "peak allocation MB"])
    same = "yes, bit for bit" if section["identical_to_nanmedian"] else "**no**"
    lines.append(
        f"- `median_combine` / `np.median`: {section['ratio']}x (best), {section['ratio_of_medians']}x (median); "
        f"target < {section['target_ratio']}x: {section['verdict']}. With the NaN band: {section['band_ratio']}x."
    )
    lines.append(f"- Same image as `np.nanmedian`: {same}.")
    return lines + [""]


_STAGE_LABELS = {
    "read": "read (`load_science`: FITS, BPM, WCS)",
    "align": "align (resample onto the grid, spill)",
    "combine": "combine (`median_combine`)",
    "write_fits": "write FITS (`write_fits_product`)",
    "jpgs": "JPGs (`render_previews`)",
    "store": "store the products",
    "other": "the rest",
    "total": "**whole operation**",
}


def _datalab_operation(section: dict) -> list[str]:
    height, width = section["shape"]
    formats = section["formats"]
    lines = [
        f"## Datalab: the Median operation end to end, {section['frames']} frames of {height} x {width}",
        "",
        f"`Median().run(ctx)` over seeded synthetic frames (seed {section['seed']}, {section['stars']} stars, sky, "
        "noise, a BPM) dithered by known sub-pixel WCS shifts, read from FITS files dropped from the page cache, "
        "aligned, combined, written as FITS and JPGs; each stage timed by wrapping the function the operation "
        "calls. Against `np.median(np.stack(arrays), axis=0)` of the same frames in memory. The frames tile-"
        "compressed as the archive stores them (`.fits.fz`, RICE_1) decide the verdict; plain `.fits` beside.",
        "",
    ]
    rows = []
    for stage in (*_STAGE_LABELS, "numpy"):
        if stage == "numpy":
            figures = [section["numpy_median"]] * len(formats)
            label = "`np.median(np.stack(arrays), axis=0)`"
        else:
            figures = [data["stages"][stage] for data in formats.values()]
            label = _STAGE_LABELS[stage]
        rows.append([label, *(value for f in figures for value in (f["best_s"], f["median_s"]))])
    header = ["stage", *(title for key in formats for title in (f".{key} best s", "median s"))]
    lines += _table(rows, header)
    for key, data in formats.items():
        lines.append(
            f"- Median on `.{key}` / `np.median`: {data['ratio']}x (best), {data['ratio_of_medians']}x (median); "
            f"target < {section['target_ratio']:g}x: {data['verdict']}."
        )
    return lines + [""]


def _datalab_memory(section: dict) -> list[str]:
    height, width = section["shape"]
    rows = [
        ["VmHWM: the kernel's peak RSS, reset just before the run", section["hwm_growth_mb"]],
        ["VmRSS sampled every 5 ms: its peak", section["rss_peak_growth_mb"]],
        ["of it anonymous memory (RssAnon, sampled)", section["anon_peak_growth_mb"]],
        ["of it file-backed pages (RssFile, sampled)", section["file_peak_growth_mb"]],
        [
            "ru_maxrss after the run less the RSS before (what Celery's --max-memory-per-child reads)",
            section["maxrss_growth_mb"],
        ],
    ]
    seconds = section["seconds"]
    return [
        f"## Datalab: a worker's peak memory, Median over {section['frames']} frames of {height} x {width}",
        "",
        f"The operation in a process of its own over `.fits.fz` frames ({human_bytes(section['input_bytes'])}), after "
        f"a warm-up run on two small frames; the process held {section['rss_before_mb']} MB before. Growth of its "
        "resident memory during the run (MB of 2^20 bytes):",
        "",
        *_table(rows, ["measure", "growth MB"]),
        f"- Target < {section['target_mb']} MB: {section['verdict']} by the peak RSS; {section['anon_verdict']} by "
        f"the anonymous memory alone. The aligned frames spilled to scratch files are "
        f"{section['aligned_spill_bytes'] / 1024**2:,.0f} MB, read back by strips.",
        f"- Time: {seconds['total']:.1f} s (read {seconds['read']:.1f}, align {seconds['align']:.1f}, combine "
        f"{seconds['combine']:.1f}, FITS {seconds['write_fits']:.1f}, JPGs {seconds['jpgs']:.1f}).",
        "",
    ]


def _datalab_submission(section: dict) -> list[str]:
    rows = [
        ["a new computation (run created and published)", section["new_run"]],
        ["the same operation again (deduplicated: nothing published)", section["deduplicated"]],
    ]
    table = [[label, f["n"], f["p50_ms"], f["p95_ms"], f["mean_ms"], f["max_ms"]] for label, f in rows]
    cpu = section["cpu"]
    return [
        "## Datalab: submission, POST /api/datasessions/<id>/operations/",
        "",
        f"A Median of 2 archive frames as a proposal member, against {section['server']}, with "
        f"{section['broker']}. New computations (another pair of frames or the other alignment) interleaved with "
        f"the same operation again; after {section['warmup_posts']} warm-up POSTs.",
        "",
        *_table(table, ["POST", "n", "p50 ms", "p95 ms", "mean ms", "max ms"]),
        f"- Target p95 < {section['target_p95_ms']} ms: {section['verdict']} for new runs, "
        f"{section['dedupe_verdict']} for deduplicated ones; {section['published_to_broker']} messages reached the "
        "broker's datalab queue.",
        f"- CPU: client {cpu['client_percent']} %, server {cpu['server_percent']} %, the rest of the machine "
        f"{cpu['rest_percent']} %, idle {cpu['idle_percent']} %; the server's CPU "
        f"{section.get('server_cpu_ms_per_post', '-')} ms a POST (both kinds)."
        + (f" **Failed POSTs**: {section['failures']}." if section["failures"] else ""),
        "",
    ]


def _summary(sections: dict) -> list[str]:
    """Each performance target with the figure that decides it (a part that failed has its own section)."""
    sections = {name: section for name, section in sections.items() if "error" not in section}
    rows = []
    queries = sections.get("queries")
    if queries:
        for kind, target in (("list", 35), ("single", 10)):
            worst = max((r for r in queries["rows"] if r["kind"] == kind), key=lambda r: r["http_p95_ms"])
            label = "list-type queries p95 < 35 ms" if kind == "list" else "single-frame queries p95 < 10 ms"
            figure = f"worst: {worst['query']} ({worst['user']}) {worst['http_p95_ms']} ms"
            rows.append([label, figure, "met" if worst["http_p95_ms"] < target else "not met"])
        gist = all(data["uses_gist"] for data in queries.get("spatial", {}).values())
        rows.append(["spatial queries use the GiST index", "see the plans", "met" if gist else "not met"])
    ingest = sections.get("ingest")
    if ingest:
        for run in ingest["api"]:
            target = f"ingest, {run['clients']} client(s) >= {run['target_frames_per_second']} frames/s"
            rows.append([target, f"{run['frames_per_second']} frames/s", run["verdict"]])
    downloads = sections.get("downloads")
    if downloads:
        for store in downloads["stores"]:
            rows.append(
                [
                    f"zip from {store['store']} >= 80 % of raw read",
                    f"{store['share_of_raw']:.0%}",
                    store["throughput_verdict"],
                ]
            )
            rows.append(
                [
                    f"zip from {store['store']}: RSS growth < 100 MB",
                    f"{store['peak_rss_growth_mb']} MB",
                    store["rss_verdict"],
                ]
            )
    datalab = sections.get("datalab")
    if datalab:
        rows += _datalab_summary(datalab)
    return ["## Targets", "", *_table(rows, ["target", "figure", "verdict"])]


def _datalab_summary(datalab: dict) -> list[list]:
    if "error" in datalab:
        return [["datalab", "failed", "not measured"]]
    rows = []
    if "ratio" in datalab:
        figure = f"{datalab['ratio']}x numpy's median (the combine alone)"
        rows.append(["datalab median combine within 1.5x numpy", figure, datalab["verdict"]])
    operation = datalab.get("operation")
    if operation:
        fz = operation["formats"]["fits.fz"]
        figure = f"{fz['ratio']}x numpy's median ({fz['stages']['total']['best_s']} s, .fits.fz)"
        rows.append(["datalab Median operation within 5x numpy", figure, operation["verdict"]])
    memory = datalab.get("memory")
    if memory and memory.get("available", True) is not False:
        figure = f"{memory['hwm_growth_mb']} MB (anonymous {memory['anon_peak_growth_mb']} MB)"
        rows.append(["datalab worker, Median 20 x 4k x 4k: RSS growth < 512 MB", figure, memory["verdict"]])
    submission = datalab.get("submission")
    if submission and submission.get("available", True) is not False:
        figure = f"{submission['new_run']['p95_ms']} ms new run, {submission['deduplicated']['p95_ms']} ms deduplicated"
        rows.append(["datalab operation POST p95 < 50 ms", figure, submission["verdict"]])
    return rows


def _vo(section: dict) -> list[str]:
    lines = [
        f"## VO services {_scale(section)}",
        "",
        f"p50/p95 over {section['requests_per_query']} requests each, gunicorn, S3 URLs; each SIA query beside the "
        "/frames/ query that asks the same (docs/vo.md).",
        "",
    ]
    rows = [
        [
            row["query"],
            row["user"],
            row["http_p50_ms"],
            row["http_p95_ms"],
            f"< {row['target_p95_ms']:g}" if row["target_p95_ms"] else "-",
            row["verdict"],
            row["rows_mean"],
        ]
        for row in section["rows"]
    ]
    return lines + _table(rows, ["query", "user", "p50 ms", "p95 ms", "target p95", "verdict", "rows"])


def _photometry(section: dict) -> list[str]:
    lines = ["## Datalab photometry", ""]
    aperture = section.get("aperture")
    if aperture:
        height, width = aperture["shape"]
        lines += [
            f"Aperture Photometry over {aperture['frames']} synthetic frames of {height} x {width} (the tests' run "
            "context, no worker; files in the page cache).",
            "",
        ]
        rows = [
            [
                aperture["measured_frames"],
                aperture["runs"],
                aperture["best_seconds"],
                aperture["median_seconds"],
                aperture["best_ms_per_frame"],
            ]
        ]
        lines += _table(rows, ["frames measured", "runs", "best s", "median s", "best ms a frame"])
    cone = section.get("cone")
    if cone:
        lines += [
            f"Local catalogue: {cone['cones']} cones of {cone['radius_deg']} deg over {cone['rows']:,} stars (a "
            f"database of the bench's own, loaded in {cone['load_seconds']} s).",
            "",
        ]
        rows = [[cone["rows_per_cone_median"], cone["p50_ms"], cone["p95_ms"], cone["max_ms"]]]
        lines += _table(rows, ["stars a cone (median)", "p50 ms", "p95 ms", "max ms"])
    return lines


RENDERERS = {
    "generate": _generate,
    "queries": _queries,
    "vo": _vo,
    "ingest": _ingest,
    "downloads": _downloads,
    "exports": _exports,
    "datalab": _datalab,
    "photometry": _photometry,
}


def record(section: str, data: dict, *, database: str) -> None:
    """Add one benchmark's figures to bench/results/latest.json and re-render latest.md."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / "latest.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results.setdefault("started_at", now_iso())
    results.setdefault("machine", machine())
    info = dataset_info(database) or {}
    results.setdefault("sections", {})[section] = {
        **data,
        "measured_at": now_iso(),
        "scale_frames": info.get("frames"),
        "load_average": [round(value, 2) for value in os.getloadavg()],
    }
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    (RESULTS_DIR / "latest.md").write_text(render(results))


def start_results() -> None:
    """Begin a new results file (a full `make bench` run); standalone parts add to the existing one."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "latest.json").write_text(
        json.dumps({"started_at": now_iso(), "machine": machine(), "sections": {}}, indent=2) + "\n"
    )


def render(results: dict) -> str:
    sections = results.get("sections", {})
    lines = _header(results) + _summary(sections)
    for name, renderer in RENDERERS.items():
        if name in sections:
            section = sections[name]
            if "error" in section:
                lines += [f"## {name}", "", f"Failed: {section['error']}", ""]
            else:
                lines += renderer(section)
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    results = json.loads((RESULTS_DIR / "latest.json").read_text())
    (RESULTS_DIR / "latest.md").write_text(render(results))
    print(RESULTS_DIR / "latest.md")


if __name__ == "__main__":
    main()
