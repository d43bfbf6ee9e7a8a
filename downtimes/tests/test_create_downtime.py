"""`manage.py create_downtime`: every option, the messages, and the exit statuses 0, 1, 2 and 3."""

import datetime
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command

from downtimes.management.commands.create_downtime import Command as CreateDowntime
from downtimes.models import Downtime, DowntimeEvent
from downtimes.tests.conftest import SINISTRO, utc

ROOT = Path(__file__).resolve().parents[2]
RESOURCE = ["-s", "tst", "-e", "doma", "-t", "1m0a"]
UNAVAILABLE = (
    "The configuration database cannot be reached and no copy of its telescope list is cached, so this downtime "
    "cannot be checked. Try again in a few minutes."
)


def run(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("create_downtime", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_defaults_start_now_for_24_hours_for_all_instruments(topology):
    with time_machine.travel(datetime.datetime(2030, 1, 1, 0, 0, 0, 250000, tzinfo=datetime.UTC), tick=False):
        code, out, err = run(*RESOURCE)
    downtime = Downtime.objects.get()
    assert (code, err) == (0, "")
    assert out == (
        f"Created downtime {downtime.id} on tst.doma.1m0a (all instruments) "
        "from 2030-01-01T00:00:00Z to 2030-01-02T00:00:01Z\n"
    )
    assert (downtime.reason, downtime.instrument_type, downtime.created_by) == ("Scheduled Maintenance", "", None)
    event = DowntimeEvent.objects.get()
    assert (event.via, event.action, event.client_address) == ("command", "created", None)


@pytest.mark.django_db
@pytest.mark.parametrize("flag", ["-i", "--instrument_type", "--instrument-type"])
def test_every_option(topology, make_user, flag):
    make_user("operator")
    code, out, _ = run(
        *RESOURCE,
        flag,
        SINISTRO,
        "-r",
        "Mirror recoating",
        "--start",
        "2030-01-01T02:00:00+02:00",
        "--offset-hours",
        "-1.5",
        "--duration-hours",
        "3",
        "--user",
        "operator",
    )
    assert code == 0, out
    downtime = Downtime.objects.get()
    assert (downtime.start, downtime.end) == (utc(2029, 12, 31, 22, 30), utc(2030, 1, 1, 1, 30))
    assert (downtime.instrument_type, downtime.reason, downtime.created_by.username) == (
        SINISTRO,
        "Mirror recoating",
        "operator",
    )
    assert f"on tst.doma.1m0a ({SINISTRO}) from 2029-12-31T22:30:00Z to 2030-01-01T01:30:00Z" in out


@pytest.mark.django_db
def test_naive_times_are_utc_and_end_is_taken_as_given(topology):
    code, out, _ = run(*RESOURCE, "--start", "2030-06-01 10:00", "--end", "2030-06-01 12:00", "--offset-hours", "1")
    assert code == 0
    downtime = Downtime.objects.get()
    assert (downtime.start, downtime.end) == (utc(2030, 6, 1, 11), utc(2030, 6, 1, 12))


@pytest.mark.django_db
def test_dry_run_writes_nothing_and_json_prints_the_api_object(topology):
    code, out, _ = run(*RESOURCE, "--start", "2030-01-01", "--duration-hours", "2", "--dry-run")
    assert (code, out) == (
        0,
        "Would create downtime on tst.doma.1m0a (all instruments) from 2030-01-01T00:00:00Z to 2030-01-01T02:00:00Z\n",
    )
    assert not Downtime.objects.exists()
    code, out, _ = run(*RESOURCE, "--start", "2030-01-01", "--duration-hours", "2", "--json", "-r", "")
    body = json.loads(out)
    assert body == {
        "id": Downtime.objects.get().id,
        "start": "2030-01-01T00:00:00Z",
        "end": "2030-01-01T02:00:00Z",
        "site": "tst",
        "enclosure": "doma",
        "telescope": "1m0a",
        "instrument_type": "",
        "reason": "",
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--start", "next tuesday"],
            "Error: start: Datetime has wrong format. Use one of these formats instead: "
            "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]. Got 'next tuesday'.\n",
        ),
        (
            ["--start", "2030-01-01T02:00:00Z", "--end", "2030-01-01T01:00:00Z"],
            "Error: End time must be after start time: 2030-01-01T02:00:00Z to 2030-01-01T01:00:00Z\n",
        ),
        (["--duration-hours", "0"], "Error: --duration-hours must be greater than 0: 0\n"),
        (["--duration-hours", "-2"], "Error: --duration-hours must be greater than 0: -2\n"),
        (["-s", "nop"], 'Error: site: "nop" is not a valid choice.\n'),
        (
            ["-s", "lco", "-e", "domb", "-t", "2m0a"],
            "Error: The site, enclosure, telescope, and instrument_type combination does not exist in Configdb: "
            "lco.domb.2m0a\n",
        ),
        (
            ["-s", "lco", "-i", SINISTRO, "-t", "2m0a"],
            "Error: The site, enclosure, telescope, and instrument_type combination does not exist in Configdb: "
            f"lco.doma.2m0a/{SINISTRO}\n",
        ),
        (["--user", "nobody"], "Error: unknown user: nobody\n"),
    ],
)
def test_invalid_input_exits_1_and_writes_nothing(topology, args, message):
    code, out, err = run(*RESOURCE, *args)
    assert (code, out, err) == (1, "", message)
    assert not Downtime.objects.exists() and not DowntimeEvent.objects.exists()


@pytest.mark.django_db
def test_configdb_unavailable_exits_3(topology):
    topology.status = 500
    code, out, err = run(*RESOURCE)
    assert (code, out, err) == (3, "", f"Error: {UNAVAILABLE}\n")
    assert not Downtime.objects.exists()


@pytest.mark.django_db
def test_without_configdb_codes_are_checked_for_shape(settings):
    settings.CONFIGDB_URL = ""
    assert run("-s", "abc", "-e", "anything", "-t", "goes")[0] == 0
    assert run("-s", "ab c", "-e", "x", "-t", "y")[2] == 'Error: site: "ab c" is not a valid choice.\n'


def subprocess_env(**overrides) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DEBUG")}
    env.update({"SECRET_KEY": "command-test-secret-key-0123456789abcdefghijklmnopqrstuv", **overrides})
    return env


# No database marker: none of these may touch the database.
@pytest.mark.parametrize(
    ("args", "status", "stream", "text"),
    [
        (["--help"], 0, "out", "--duration-hours"),
        (["-s", "tst"], 2, "err", "the following arguments are required: -e/--enclosure, -t/--telescope"),
        ([*RESOURCE, "--end", "2030-01-02", "--duration-hours", "1"], 2, "err", "not allowed with argument"),
        ([*RESOURCE, "--offset-hours", "soon"], 2, "err", "invalid float value"),
        ([*RESOURCE, "--duration-hours", "-1"], 1, "err", "Error: --duration-hours must be greater than 0: -1"),
    ],
)
def test_exit_statuses_from_the_command_line(configdb, capsys, args, status, stream, text):
    """run_from_argv is what manage.py runs: argparse's usage errors exit 2 there, and --help needs no configdb."""
    with pytest.raises(SystemExit) as exited:
        CreateDowntime().run_from_argv(["manage.py", "create_downtime", *args])
    assert exited.value.code == status
    captured = capsys.readouterr()
    assert text in (captured.out if stream == "out" else captured.err)
    assert configdb.count() == 0


def test_the_real_process_exits_3_when_configdb_is_down(configdb):
    configdb.status = 500
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "create_downtime", *RESOURCE],
        env=subprocess_env(CONFIGDB_URL=configdb.url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (result.returncode, result.stdout) == (3, "")
    assert f"Error: {UNAVAILABLE}" in result.stderr
    assert configdb.count() == 1  # the validation's one attempt; the system checks asked nothing
