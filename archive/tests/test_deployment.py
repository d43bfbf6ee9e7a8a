"""The container build and the compose stack: what an image may hold, how it is built, and the stack as compose
itself reads it (services, start-up order, the bucket, secrets only from an env file)."""

import fnmatch
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.test import Client

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


# --- The compose stack, validated by compose itself ---------------------------------------------------------------

# Every variable the stack cannot start without; the dummy values below stand in for them.
REQUIRED = {
    "SECRET_KEY": "dummy-secret-key-Zq81",
    "DB_PASS": "dummy-db-password-Zq82",
    "AWS_ACCESS_KEY_ID": "dummy-s3-user-Zq83",
    "AWS_SECRET_ACCESS_KEY": "dummy-s3-password-Zq84",
    "BROKER_USER": "dummy-broker-user-Zq85",
    "BROKER_PASSWORD": "dummy-broker-password-Zq86",
}
SERVICES = {"db", "broker", "cache", "minio", "createbucket", "web", "worker", "beat"}
# Environment names whose values are credentials (the database's user name is none: it defaults to `archive`).
SECRET_NAME = re.compile(r"(SECRET|PASS|PASSWORD|_KEY|_KEY_ID)$|^(MINIO_ROOT_USER|RABBITMQ_DEFAULT_USER|MC_USER)$")


def _compose_command() -> list[str]:
    """Debian's docker-compose (`make setup-dev` installs it), or the compose plugin of a Docker CLI where it has one;
    neither needs a Docker engine to validate and resolve a file."""
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    pytest.fail("No compose to validate docker-compose.yml with: `make setup-dev` installs Debian's docker-compose.")


def _compose_config(tmp_path: Path, values: dict[str, str]) -> subprocess.CompletedProcess:
    env_file = tmp_path / "stack.env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    # The variables come from the env file alone, not from this process (whose SECRET_KEY is the suite's).
    env = {name: value for name, value in os.environ.items() if name in ("PATH", "HOME", "LANG", "LC_ALL")}
    return subprocess.run(
        [*_compose_command(), "--env-file", str(env_file), "-f", str(ROOT / "docker-compose.yml"), "config"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> dict:
    """docker-compose.yml as compose resolves it with the dummy env file."""
    result = _compose_config(tmp_path_factory.mktemp("compose"), REQUIRED)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def _command(service: dict) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else command


def test_compose_validates_the_stack_with_every_service(stack):
    services = stack["services"]
    assert set(services) == SERVICES
    web, worker, beat = services["web"], services["worker"], services["beat"]
    assert "migrate --noinput" in _command(web) and "gunicorn archive.wsgi --config gunicorn.conf.py" in _command(web)
    # The worker class and threads are gunicorn.conf.py's, as the image's and the benchmarks' (no override here).
    assert "--worker-class" not in _command(web) and "--threads" not in _command(web)
    # One worker for both queues, without beat; one beat, a service of its own.
    assert "worker -Q celery,datalab" in _command(worker) and "--beat" not in _command(worker)
    assert " beat " in f" {_command(beat)} "
    assert [name for name, service in services.items() if " beat" in _command(service)] == ["beat"]
    # The app services talk to the stack's own services, with the env file's credentials.
    environment = web["environment"]
    assert environment["DB_HOST"] == "db" and environment["CACHE_LOC"] == "cache:11211"
    assert environment["S3_ENDPOINT_URL"] == "http://minio:9000" and environment["FILESTORE_TYPE"] == "s3"
    assert environment["QUEUE_BROKER_URL"] == (
        f"amqp://{REQUIRED['BROKER_USER']}:{REQUIRED['BROKER_PASSWORD']}@broker:5672//"
    )
    assert worker["environment"] == environment == beat["environment"]
    # The broker's consumer_timeout stays above a datalab run's time limit.
    assert "consumer_timeout 3600000" in services["broker"]["environment"]["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"]


def test_start_up_waits_for_healthy_services_and_the_bucket(stack):
    services = stack["services"]
    for name in ("db", "broker", "minio", "web"):
        assert services[name]["healthcheck"]["test"], name
    assert services["web"]["depends_on"] == {
        "db": {"condition": "service_healthy"},
        "broker": {"condition": "service_healthy"},
        "cache": {"condition": "service_started"},
        "createbucket": {"condition": "service_completed_successfully"},
    }
    # The worker and beat start once the web service has migrated the database and answers.
    for name in ("worker", "beat"):
        assert services[name]["depends_on"] == {"web": {"condition": "service_healthy"}}


def test_the_stack_makes_its_bucket_with_versioning(stack):
    job = stack["services"]["createbucket"]
    assert job["image"].startswith("minio/mc")
    assert job["depends_on"] == {"minio": {"condition": "service_healthy"}}
    assert "restart" not in job  # one-shot
    script = _command(job)
    steps = ("mc alias set", "mc mb --ignore-existing", "mc version enable")
    assert [script.index(step) for step in steps] == sorted(script.index(step) for step in steps)
    assert script.lstrip().startswith("set -e")  # a failed step fails the job, and so the start of the app
    assert job["environment"]["MC_USER"] == REQUIRED["AWS_ACCESS_KEY_ID"]
    assert job["environment"]["MC_PASSWORD"] == REQUIRED["AWS_SECRET_ACCESS_KEY"]
    minio = stack["services"]["minio"]["environment"]
    assert (minio["MINIO_ROOT_USER"], minio["MINIO_ROOT_PASSWORD"]) == (
        REQUIRED["AWS_ACCESS_KEY_ID"],
        REQUIRED["AWS_SECRET_ACCESS_KEY"],
    )


def test_every_credential_of_the_stack_comes_from_the_env_file(stack):
    dummies = set(REQUIRED.values())
    checked = 0
    for name, service in stack["services"].items():
        for variable, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(variable) and variable not in ("OAUTH_CLIENT_SECRET", "OAUTH_SERVER_KEY"):
                assert value in dummies, f"{name}: {variable} is {value!r}, not a value of the env file"
                checked += 1
    assert checked >= 12
    # The optional portal secrets default to empty, never to a value.
    assert stack["services"]["web"]["environment"]["OAUTH_CLIENT_SECRET"] == ""
    # Nor does a literal hide in a command or a URL of the file itself.
    text = (ROOT / "docker-compose.yml").read_text()
    for literal in ("archive-secret", "guest:guest", "POSTGRES_PASSWORD: archive", "minioadmin"):
        assert literal not in text


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_compose_refuses_a_stack_without_a_required_variable(tmp_path, missing):
    result = _compose_config(tmp_path, {name: value for name, value in REQUIRED.items() if name != missing})
    assert result.returncode != 0
    assert f"set {missing} " in result.stderr and "see .env.example" in result.stderr
    # Empty counts as missing.
    assert _compose_config(tmp_path, {**REQUIRED, missing: ""}).returncode != 0


def test_the_example_env_file_names_every_required_variable_and_holds_no_secret(tmp_path):
    lines = (ROOT / ".env.example").read_text().splitlines()
    assignments = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", (ROOT / "docker-compose.yml").read_text()))
    assert required == set(REQUIRED)
    assert required <= set(assignments)
    # Passwords and keys are left for the operator; copied as it is, the example does not start a stack.
    for name in ("SECRET_KEY", "DB_PASS", "AWS_SECRET_ACCESS_KEY", "BROKER_PASSWORD"):
        assert assignments[name] == "", name
    result = _compose_config(tmp_path, assignments)
    assert result.returncode != 0 and "see .env.example" in result.stderr


# --- The image ----------------------------------------------------------------------------------------------------


def _stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuation lines joined), one list per stage."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        stages[-1].append(line)
    return stages


def test_the_image_is_built_in_stages_and_runs_as_an_unprivileged_user():
    stages = _stages()
    assert len(stages) >= 2
    build, runtime = stages[0], stages[-1]
    assert re.fullmatch(r"FROM \S+ AS build", build[0], flags=re.IGNORECASE)
    assert any("pip wheel" in line and "requirements.txt" in line for line in build)
    assert runtime[0].split()[1] == "python:3.11-slim-bookworm"
    runtime_text = "\n".join(runtime)
    # The runtime installs the build's wheels, and nothing from an index.
    assert "from=build" in runtime_text and "--no-index" in runtime_text
    # GeoDjango's shared libraries, and no compiler, headers or command-line tools.
    for package in ("libgdal32", "libgeos-c1v5", "libproj25"):
        assert package in runtime_text
    for package in ("build-essential", "gcc", "-dev ", "gdal-bin"):
        assert package not in runtime_text
    assert "collectstatic" in runtime_text
    users = [line.split()[1] for line in runtime if line.upper().startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    # The user is set before the command runs, after everything that needs root.
    last_user = max(index for index, line in enumerate(runtime) if line.upper().startswith("USER "))
    assert not any(line.upper().startswith("RUN ") for line in runtime[last_user:])
    assert runtime[-1].startswith("CMD ") and '"--config", "gunicorn.conf.py"' in runtime[-1]
    assert "--worker-class" not in runtime[-1] and "--threads" not in runtime[-1]


def test_gunicorn_runs_threaded_workers_from_one_configuration_file():
    """gunicorn.conf.py is the one place of the server's settings (image, compose and benchmarks): threaded workers,
    whose heartbeat does not wait for a long zip download, and one that is copied into the image."""
    import runpy

    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert config["worker_class"] == "gthread" and config["threads"] > 1
    assert config["bind"] == "0.0.0.0:8000" and config["workers"] >= 2

    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert not _ignored(patterns, "gunicorn.conf.py")


# --- Static files -------------------------------------------------------------------------------------------------


def test_production_settings_serve_static_files_through_whitenoise():
    from django.conf import settings

    middleware = settings.MIDDLEWARE
    assert middleware.index("whitenoise.middleware.WhiteNoiseMiddleware") == 1
    assert middleware[0] == "django.middleware.security.SecurityMiddleware"
    # The project's settings (the suite's own swap in plain storage: it never collects static files).
    result = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.STORAGES['staticfiles']['BACKEND'])"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "archive.settings", "SECRET_KEY": "x" * 50, "DEBUG": "false"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "whitenoise.storage.CompressedManifestStaticFilesStorage"
    assert {"default", "staticfiles", "datalab"} <= set(settings.STORAGES)


@pytest.mark.django_db
def test_collected_static_files_are_served_hashed_compressed_and_cached(tmp_path, settings):
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    settings.WHITENOISE_USE_FINDERS = False
    settings.WHITENOISE_AUTOREFRESH = False
    call_command("collectstatic", "--noinput", "-v", "0")

    client = Client()  # a new handler: whitenoise reads STATIC_ROOT as it starts
    page = client.get("/frames/", HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    stylesheet = re.search(r'href="(/static/rest_framework/css/bootstrap\.min\.[0-9a-f]{12}\.css)"', page.text)
    assert stylesheet, "the browsable API names the hashed stylesheet"
    response = client.get(stylesheet.group(1), HTTP_ACCEPT_ENCODING="gzip")
    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    assert "immutable" in response["Cache-Control"] and "max-age=315360000" in response["Cache-Control"]
