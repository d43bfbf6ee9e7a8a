"""The container build and the compose stack: what an image may hold, and the secret the stack must be given."""

import fnmatch
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _ignored(patterns: list[str], path: str) -> bool:
    """Whether Docker's context leaves `path` out (enough of its matching for these patterns: no `!` exceptions)."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: index + 1]) for index in range(len(parts))]
    return any(
        fnmatch.fnmatch(prefix, pattern) or fnmatch.fnmatch(prefix, pattern.removeprefix("**/"))
        for pattern in patterns
        for prefix in prefixes
    )


def test_the_image_context_leaves_out_local_state_secrets_and_history():
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert not any(pattern.startswith("!") for pattern in patterns)
    for path in (
        ".git/config",
        ".local/secret_key",
        ".local/files/a/b.fits.fz",
        ".venv/bin/python",
        ".env",
        "staticfiles/admin/base.css",
        "test-artifacts/report.xml",
        "bench/results/latest.json",
        "frames/__pycache__/models.cpython-311.pyc",
        "archive/settings.pyc",
    ):
        assert _ignored(patterns, path), path
    for path in ("manage.py", "archive/settings.py", "requirements.txt", "templates/rest_framework/api.html"):
        assert not _ignored(patterns, path), path


def test_the_compose_stack_has_no_fixed_secret_key():
    text = (ROOT / "docker-compose.yml").read_text()
    values = re.findall(r"^\s*SECRET_KEY:\s*(.+)$", text, flags=re.MULTILINE)
    assert values  # the web service's, which the worker shares through its anchor
    for value in values:
        # Interpolated from the environment or .env; compose stops with this message when it is missing.
        assert value.startswith("${SECRET_KEY:?") and value.endswith("}"), value
