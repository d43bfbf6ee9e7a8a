"""`python -m bench.shapes`: a page of 100 frames shaped by the hand-written representation against DRF's generic
field-by-field path over the same declared fields.

The frames API's serializers (frames/representations.py) declare every field, and a test holds DRF's generic
`to_representation` over those fields equal to the hand-written functions the serializers answer through. This
measures what the hand-written path saves on a list page: 100 frames in memory, each with a footprint, two versions
and two related ids, as `GET /frames/` shapes them (download links to the local store; S3 links cost the same in both
paths). Runs alternate between the two; best and median of `--runs`, in milliseconds a page. Figures only: nothing is
asserted. The figures go into the `shapes` section of bench/results/latest.json.
"""

import argparse
import datetime
import statistics
import time

from bench.common import add_database_argument, configure_django, heading, print_table
from bench.report import record

PAGE = 100


def page_of_frames() -> list:
    from frames.models import Frame, VersionRow

    start = datetime.datetime(2024, 5, 1, 10, 0, tzinfo=datetime.UTC)
    frames = []
    for index in range(PAGE):
        observed = start + datetime.timedelta(minutes=index)
        frame = Frame(
            id=index + 1,
            basename=f"ogg2m001-ep02-20240501-{index:04d}-e91",
            observation_date=observed,
            observation_day=observed.date(),
            proposal_id="LCO2024A-001",
            instrument_id="ep02",
            target_name="M51",
            site_id="ogg",
            telescope_id="2m0a",
            primary_optical_element="rp",
            configuration_type="EXPOSE",
            reduction_level=91,
            exposure_time=30.0,
            public_date=observed + datetime.timedelta(days=365),
            observation_id=1000 + index,
            request_id=5000 + index,
        )
        frame.area_geojson = (
            '{"type":"Polygon","coordinates":[[[202.32,47.04],[202.62,47.04],[202.62,47.34],[202.32,47.34],'
            "[202.32,47.04]]]}"
        )
        frame.prefetched_versions = [
            VersionRow(2 * index + n, index + 1, f"k{n}", f"{index:030d}{n:02d}", ".fits.fz", "p", 1, None, observed)
            for n in (1, 0)
        ]
        frame.prefetched_related_ids = [index + 1000, index + 2000]
        frame.prefetched_thumbnails = []
        frames.append(frame)
    return frames


def run(*, runs: int, database: str) -> dict:
    configure_django(database)
    from django.contrib.auth.models import AnonymousUser
    from django.test import RequestFactory
    from rest_framework import serializers

    from frames.links import DownloadLinks
    from frames.representations import FrameSerializer

    request = RequestFactory().get("/frames/", HTTP_HOST="127.0.0.1:8000")
    request.user = AnonymousUser()
    frames = page_of_frames()

    def shape(generic: bool) -> float:
        context = {"links": DownloadLinks(request), "include_related": True, "include_thumbnails": False}
        started = time.perf_counter()
        if generic:
            for frame in frames:
                serializers.Serializer.to_representation(FrameSerializer(frame, context=context), frame)
        else:
            FrameSerializer(frames, many=True, context=context).data  # noqa: B018  (the property does the work)
        return (time.perf_counter() - started) * 1000

    times: dict[str, list[float]] = {"hand-written": [], "DRF generic": []}
    for _ in range(3):  # warm-up
        shape(False), shape(True)
    for index in range(runs):
        order = (False, True) if index % 2 == 0 else (True, False)
        for generic in order:
            times["DRF generic" if generic else "hand-written"].append(shape(generic))
    result = {
        name: {"best_ms": round(min(values), 2), "median_ms": round(statistics.median(values), 2)}
        for name, values in times.items()
    }
    result["ratio_of_medians"] = round(result["DRF generic"]["median_ms"] / result["hand-written"]["median_ms"], 1)
    result["page_frames"] = PAGE
    return result


def print_result(result: dict) -> None:
    heading(f"Shaping a page of {result['page_frames']} frames")
    rows = [{"path": name, **result[name]} for name in ("hand-written", "DRF generic")]
    print_table(rows, [("path", "path"), ("best_ms", "best ms"), ("median_ms", "median ms")])
    print(f"DRF's generic path takes {result['ratio_of_medians']}x the hand-written one's median.")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="timed pages of each path (default 30)")
    add_database_argument(parser)
    args = parser.parse_args(argv)
    result = run(runs=args.runs, database=args.database)
    print_result(result)
    record("shapes", result, database=args.database)


if __name__ == "__main__":
    main()
