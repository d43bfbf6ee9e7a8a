"""`python -m bench.presign`: the archive's presigner against botocore's own signers, per URL and per page of frames.

A page of `/frames/` from the S3 store carries one presigned URL per frame, so a 100-frame page signs 100 URLs. Three
ways to sign the same 100 GET URLs (archive-style keys, AWS-style version ids, the default link expiry):

- `Presigner.url`: the archive's (`archive/filestore/presign.py`), as the S3 store calls it;
- `generate_presigned_url`: boto3's public API, what the store would call without the presigner;
- `S3SigV4QueryAuth`: botocore's presigning signer fed a ready URL (no endpoint rules), with the frozen credentials
  and a new signer per URL, as botocore's request signer makes one for each URL it presigns.

Each in two set-ups: AWS (virtual-host addressing, refreshable temporary credentials with a session token, as an
instance or task role gives them) and an S3-compatible endpoint (path style, static keys, as MinIO or the benchmarks'
moto server). Before timing, the three are checked to give the same URLs. Runs are interleaved (the order rotating),
each signing `--pages` pages; best and median of `--runs`, in microseconds a URL and milliseconds a page. The rule
the presigner is kept by: it must save at least 2 ms a 100-frame page against the faster of botocore's two,
judged on the medians; below that, botocore's signer is worth its simplicity. Figures only: nothing is asserted. No
server and no database are needed; the figures go into the `presign` section of bench/results/latest.json.
"""

import argparse
import datetime
import random
import statistics
import string
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import boto3
import botocore.session
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import CredentialProvider, CredentialResolver, RefreshableCredentials

from archive.filestore.presign import Presigner
from bench.common import BUCKET, DEFAULT_SEED, add_database_argument, heading, print_table, say
from bench.report import record

PAGE_URLS = 100
EXPIRES = 172800  # DOWNLOAD_URL_EXPIRY_SECONDS's default
TARGET_MS_PER_PAGE = 2.0
REGION = "us-west-2"
CONTENDERS = ("Presigner.url", "generate_presigned_url", "S3SigV4QueryAuth")
BOTOCORE = CONTENDERS[1:]

Sign = Callable[[str, str], str]


class RoleCredentials(CredentialProvider):
    """Temporary credentials as an instance or task role hands them out: refreshable, with a session token, valid
    for hours (so that no refresh falls inside the timing; the check whether one is due is timed)."""

    METHOD = "bench-role"

    def __init__(self, rng: random.Random):
        self.rng = rng

    def _issue(self) -> dict:
        expiry = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=12)
        return {
            "access_key": "ASIA" + "".join(self.rng.choices(string.ascii_uppercase + string.digits, k=16)),
            "secret_key": "".join(self.rng.choices(string.ascii_letters + string.digits + "+/", k=40)),
            "token": "".join(self.rng.choices(string.ascii_letters + string.digits + "+/", k=600)) + "==",
            "expiry_time": expiry.isoformat(),
        }

    def load(self):
        return RefreshableCredentials.create_from_metadata(self._issue(), self._issue, self.METHOD)


@dataclass
class Setup:
    name: str
    description: str
    session: boto3.session.Session
    endpoint: str | None
    style: str

    def signers(self) -> dict[str, Sign]:
        client = self.session.client(
            "s3",
            region_name=REGION,
            endpoint_url=self.endpoint,
            config=Config(signature_version="s3v4", s3={"addressing_style": self.style}),
        )
        credentials = self.session.get_credentials()
        presigner = Presigner(client, BUCKET, credentials)
        probe = urlsplit(client.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "probe"}))
        base = f"{probe.scheme}://{probe.netloc}{probe.path[: -len('probe')]}"

        def ours(key: str, version_id: str) -> str:
            return presigner.url(key, version_id, EXPIRES)

        def generate(key: str, version_id: str) -> str:
            params = {"Bucket": BUCKET, "Key": key, "VersionId": version_id}
            return client.generate_presigned_url("get_object", Params=params, ExpiresIn=EXPIRES)

        def query_auth(key: str, version_id: str) -> str:
            url = f"{base}{quote(key, safe='/~')}?versionId={quote(version_id, safe='-_.~')}"
            request = AWSRequest(method="GET", url=url)
            S3SigV4QueryAuth(credentials.get_frozen_credentials(), "s3", REGION, expires=EXPIRES).add_auth(request)
            return request.prepare().url

        return dict(zip(CONTENDERS, (ours, generate, query_auth), strict=True))


def setups(seed: int) -> list[Setup]:
    rng = random.Random(seed)
    role = botocore.session.get_session()
    role.register_component("credential_provider", CredentialResolver([RoleCredentials(rng)]))
    static = boto3.session.Session(
        aws_access_key_id="AKIA" + "".join(rng.choices(string.ascii_uppercase + string.digits, k=16)),
        aws_secret_access_key="".join(rng.choices(string.ascii_letters + string.digits + "+/", k=40)),
    )
    return [
        Setup(
            "aws",
            "AWS, virtual host, refreshable role credentials with a session token",
            boto3.session.Session(botocore_session=role),
            None,
            "virtual",
        ),
        Setup("endpoint", "S3-compatible endpoint, path style, static keys", static, "http://127.0.0.1:9000", "path"),
    ]


def page_objects(seed: int) -> list[tuple[str, str]]:
    """A page of frames' (key, version id): processed frames of one night's instruments, as the store lays them out."""
    rng = random.Random(seed)
    objects = []
    for number in range(PAGE_URLS):
        site, telescope, instrument = rng.choice(
            [("coj", "1m0a", "fa19"), ("lsc", "1m0b", "fa15"), ("ogg", "2m0a", "ep05")]
        )
        basename = f"{site}{telescope[:3]}{telescope[-1]}-{instrument}-20250101-{number:04d}-e91"
        version_id = "".join(rng.choices(string.ascii_letters + string.digits + "._", k=32))
        objects.append((f"{site}/{instrument}/20250101/processed/{basename}.fits.fz", version_id))
    return objects


def same_urls(signers: dict[str, Sign], objects: list[tuple[str, str]]) -> bool:
    """Whether the three give the same URL for every object (within one second; retried across a second's edge)."""
    for key, version_id in objects:
        for _ in range(3):
            second = int(time.time())
            urls = {sign(key, version_id) for sign in signers.values()}
            if int(time.time()) == second:
                break
        if len(urls) != 1:
            return False
    return True


def time_pages(sign: Sign, objects: list[tuple[str, str]], pages: int) -> float:
    """Seconds a page: `pages` pages signed back to back."""
    start = time.perf_counter()
    for _ in range(pages):
        for key, version_id in objects:
            sign(key, version_id)
    return (time.perf_counter() - start) / pages


def figures(seconds: list[float]) -> dict:
    best, median = min(seconds), statistics.median(seconds)
    return {
        "best_ms_per_page": round(best * 1000, 3),
        "median_ms_per_page": round(median * 1000, 3),
        "best_us_per_url": round(best * 1e6 / PAGE_URLS, 2),
        "median_us_per_url": round(median * 1e6 / PAGE_URLS, 2),
    }


def measure(setup: Setup, objects: list[tuple[str, str]], *, runs: int, pages: int) -> dict:
    signers = setup.signers()
    identical = same_urls(signers, objects)
    for sign in signers.values():  # warm-up: botocore's endpoint and signing caches, the presigner's state
        time_pages(sign, objects, 1)
    seconds: dict[str, list[float]] = {name: [] for name in signers}
    names = list(signers)
    for run in range(runs):
        for name in names[run % len(names) :] + names[: run % len(names)]:
            seconds[name].append(time_pages(signers[name], objects, pages))
    contenders = {name: figures(values) for name, values in seconds.items()}
    ours = contenders[CONTENDERS[0]]
    savings = {
        name: {
            "best_ms_per_page": round(contenders[name]["best_ms_per_page"] - ours["best_ms_per_page"], 3),
            "median_ms_per_page": round(contenders[name]["median_ms_per_page"] - ours["median_ms_per_page"], 3),
        }
        for name in BOTOCORE
    }
    closest = min(BOTOCORE, key=lambda name: savings[name]["median_ms_per_page"])
    saved = savings[closest]["median_ms_per_page"]
    return {
        "description": setup.description,
        "same_urls": identical,
        "contenders": contenders,
        "saved_per_page": savings,
        "closest_botocore": closest,
        "saved_ms_per_page": saved,
        "verdict": "keep the presigner" if saved >= TARGET_MS_PER_PAGE else "go back to botocore's signer",
    }


def run(*, runs: int = 15, pages: int = 10, seed: int = DEFAULT_SEED) -> dict:
    objects = page_objects(seed)
    results = {setup.name: measure(setup, objects, runs=runs, pages=pages) for setup in setups(seed)}
    saved = min(result["saved_ms_per_page"] for result in results.values())
    return {
        "page_urls": PAGE_URLS,
        "expires_seconds": EXPIRES,
        "runs": runs,
        "pages_per_run": pages,
        "target_ms_per_page": TARGET_MS_PER_PAGE,
        "setups": results,
        "saved_ms_per_page": saved,
        "verdict": "keep the presigner" if saved >= TARGET_MS_PER_PAGE else "go back to botocore's signer",
    }


def print_result(result: dict) -> None:
    for name, setup in result["setups"].items():
        heading(f"presigning a {result['page_urls']}-frame page: {setup['description']}")
        rows = [{"how": how, **figures} for how, figures in setup["contenders"].items()]
        columns = [
            ("how", "how"),
            ("best_us_per_url", "best us/URL"),
            ("median_us_per_url", "median us/URL"),
            ("best_ms_per_page", "best ms/page"),
            ("median_ms_per_page", "median ms/page"),
        ]
        print_table(rows, columns)
        say(f"  same URLs from all three: {'yes' if setup['same_urls'] else 'NO'}")
        for how, saved in setup["saved_per_page"].items():
            say(
                f"  saved against {how}: {saved['median_ms_per_page']:.2f} ms a page (medians), "
                f"{saved['best_ms_per_page']:.2f} ms (best)"
            )
        say(
            f"  [{name}] {setup['verdict']}: {setup['saved_ms_per_page']:.2f} ms a page saved against the faster of "
            f"botocore's ({setup['closest_botocore']}); the rule asks for >= {result['target_ms_per_page']:g} ms"
        )
    say(
        f"\nVerdict: {result['verdict']} (smallest saving {result['saved_ms_per_page']:.2f} ms a page, "
        f"rule >= {result['target_ms_per_page']:g} ms)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs of each signer (default 15)")
    parser.add_argument("--pages", type=int, default=10, help="100-URL pages signed in each run (default 10)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    add_database_argument(parser)  # only to note the generated archive's scale beside the figures, if there is one
    args = parser.parse_args(argv)
    result = run(runs=args.runs, pages=args.pages, seed=args.seed)
    print_result(result)
    record("presign", result, database=args.database)


if __name__ == "__main__":
    main()
