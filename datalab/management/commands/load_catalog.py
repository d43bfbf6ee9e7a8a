"""Load a Gaia DR3 extract (CSV or a FITS table) into the datalab's local catalogue, in batches; stars already
loaded (same source_id) are updated."""

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table
from django.core.management.base import BaseCommand, CommandError

from datalab import services

REQUIRED = ("source_id", "ra", "dec")


def read_extract(path: Path) -> Table:
    """The extract as an astropy Table: FITS by its extension or content, else CSV."""
    name = path.name.lower()
    if name.endswith((".fits", ".fit", ".fits.gz", ".fts")):
        return Table.read(path, format="fits")
    return Table.read(path, format="ascii.csv")


def _value(column: Any, index: int) -> float | None:
    if np.ma.is_masked(column[index]):
        return None
    value = float(column[index])
    return value if math.isfinite(value) else None


def extract_rows(table: Table) -> Iterator[dict[str, Any]]:
    """Rows of the extract with the catalogue's columns (case-insensitive names); masked or non-finite values become
    None; `bp_rp` is computed from BP and RP when the extract lacks it."""
    names = {name.lower(): name for name in table.colnames}
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        raise CommandError(f"The extract has no {', '.join(missing)} column; it needs source_id, ra and dec.")
    columns = {key: table[names[key]] for key in (*REQUIRED, *services.CATALOG_VALUES) if key in names}
    for index in range(len(table)):
        row: dict[str, Any] = {key: _value(column, index) for key, column in columns.items()}
        if row["source_id"] is None or row["ra"] is None or row["dec"] is None:
            raise CommandError(f"Row {index + 1} of the extract has no source_id, ra or dec.")
        row["source_id"] = int(table[names["source_id"]][index])
        for key in services.CATALOG_VALUES:
            row.setdefault(key, None)
        if "bp_rp" not in columns and row["phot_bp_mean_mag"] is not None and row["phot_rp_mean_mag"] is not None:
            row["bp_rp"] = row["phot_bp_mean_mag"] - row["phot_rp_mean_mag"]
        yield row


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="A Gaia DR3 extract: CSV, or a FITS binary table")
        parser.add_argument("--batch-size", type=int, default=5000, help="Rows per insert (default 5000)")

    def handle(self, *args, **options):
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        try:
            table = read_extract(path)
        except (OSError, ValueError) as error:
            raise CommandError(f"Could not read {path} as CSV or a FITS table: {error}") from error
        try:
            loaded = services.catalog_stars_load(rows=extract_rows(table), batch_size=max(1, options["batch_size"]))
        except ValueError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"Loaded {loaded} catalogue row(s) from {path.name}.")
