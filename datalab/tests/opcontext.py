"""A run context for operation tests without the database or the worker: inputs are local FITS files, products are
kept in memory."""

import datetime
from dataclasses import dataclass, field
from pathlib import Path

from datalab.operations.base import Operation


@dataclass
class LocalFile:
    """An input file already on disk (the worker's inputs fetch theirs on first use)."""

    path: Path
    basename: str = ""
    source: str = "archive"
    item: dict = field(default_factory=dict)
    observation_date: datetime.datetime | None = None
    filter: str | None = None

    def __post_init__(self):
        self.basename = self.basename or self.path.name.split(".")[0]
        self.item = {"basename": self.basename, "source": self.source, **self.item}

    @property
    def label(self) -> str:
        return f"{self.basename} (test file)"


@dataclass
class LocalContext:
    operation: Operation
    scratch: Path
    inputs: dict[str, list[LocalFile]]
    params: dict = field(default_factory=dict)
    key: str = "0" * 64
    message: str = ""
    progress_log: list[tuple[float, str]] = field(default_factory=list)
    products: list[dict] = field(default_factory=list)
    data: list[dict] = field(default_factory=list)

    def files(self, name: str) -> list[LocalFile]:
        return list(self.inputs.get(name, []))

    def progress(self, fraction: float, message: str = "") -> None:
        assert 0 <= fraction <= 1, fraction
        if self.progress_log:
            assert fraction >= self.progress_log[-1][0], (fraction, self.progress_log[-1])
        self.progress_log.append((fraction, message))

    def add_file_product(self, *, fits_path, large_jpg, small_jpg, tif=None, kind="fits", index=None) -> dict:
        basename = self.key if index is None else f"{self.key}-{index}"
        product = {
            "basename": basename,
            "source": "datalab",
            "type": kind,
            "fits": Path(fits_path).read_bytes(),
            "large_jpg": large_jpg,
            "small_jpg": small_jpg,
            "tif": tif,
        }
        self.products.append(product)
        return product

    def set_data(self, data: dict) -> None:
        self.data.append(data)


def run_operation(operation_class, tmp_path: Path, inputs: dict[str, list[LocalFile]], **params) -> LocalContext:
    """Run an operation over local files with the given parameters (defaults of its declared inputs applied)."""
    for spec in operation_class.inputs:
        if spec.type != "fits" and spec.key not in params and spec.default is not None:
            params[spec.key] = spec.default
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    ctx = LocalContext(operation=operation_class(), scratch=scratch, inputs=inputs, params=params)
    ctx.operation.run(ctx)
    return ctx
