"""The operation framework: the base class every operation subclasses, its input rules, the run context it computes
in, and the registry that finds the operations once at start-up."""

import importlib
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Protocol


class OperationError(Exception):
    """A failure the user can act on; its message is shown verbatim as the run's message."""


class InputError(Exception):
    """Submitted inputs that break a declared rule (a 400); `field` is the input key at fault, when there is one."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class RunCancelled(Exception):
    """The run's last operation was deleted while it ran: the worker stops at its next progress report."""


class InputFile(Protocol):
    """One resolved file input as an operation sees it.

    `basename`, `source` and `item` (the stored item, e.g. a colour channel's `color`, `zmin`, `zmax`) are known at
    once; `path` fetches the file into the scratch cache on first use. `label` names the input in provenance (its
    basename and the version md5 or run key); `observation_date` and `filter` are the archive frame's (None for
    products); `has_catalog` is unknown (None) until the file is read.
    """

    basename: str
    source: str
    item: dict
    label: str
    observation_date: Any
    filter: str | None

    @property
    def path(self) -> Path: ...


class RunContext(Protocol):
    """What an operation's `run(ctx)` may use (the worker's context, or the tests' in-memory one)."""

    key: str
    operation: "Operation"
    scratch: Path
    params: dict
    message: str  # the completion message: '' or a warning shown with COMPLETED

    def files(self, name: str) -> list[InputFile]: ...

    def progress(self, fraction: float, message: str = "") -> None: ...

    def add_file_product(
        self,
        *,
        fits_path: Path,
        large_jpg: bytes,
        small_jpg: bytes,
        tif: bytes | None = None,
        kind: str = "fits",
        index: int | None = None,
    ) -> dict: ...

    def set_data(self, data: dict) -> None: ...


@dataclass(frozen=True)
class InputSpec:
    """One declared input: its wizard descriptor (sent to the front-end as is) and the rules derived from it."""

    key: str
    name: str
    description: str
    type: str  # fits, source, positions (timed sky positions), float, int, select, string
    minimum: float | None = None
    maximum: float | None = None
    default: Any = None
    options: tuple = ()
    required: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict)  # single_filter, filter_options, color_picker, ...

    def descriptor(self) -> dict:
        described: dict[str, Any] = {"name": self.name, "description": self.description, "type": self.type}
        if self.minimum is not None:
            described["minimum"] = self.minimum
        if self.maximum is not None:
            described["maximum"] = self.maximum
        if self.default is not None:
            described["default"] = self.default
        if self.options:
            described["options"] = list(self.options)
        if self.type in ("source", "positions", "string") and self.required:
            described["required"] = True
        described.update(self.extra)
        return described


def fits_input(
    key: str, name: str, description: str, *, minimum: int, maximum: int, required: bool = True, **extra
) -> InputSpec:
    return InputSpec(key, name, description, "fits", minimum, maximum, required=required, extra=extra)


def alignment_input() -> InputSpec:
    return InputSpec(
        "alignment",
        "Alignment",
        "wcs: register every frame on the first one's WCS before combining; none: combine pixel by pixel "
        "(the frames must have the same shape).",
        "select",
        default="wcs",
        options=("wcs", "none"),
    )


def source_input() -> InputSpec:
    return InputSpec(
        "source",
        "Source",
        "The target: a name and its RA and Dec in decimal degrees.",
        "source",
        extra={"name_lookup": True},
    )


class Operation:
    """One kind of datalab operation. Subclasses declare their wire name, code version, wizard text, menu place and
    inputs, may check resolved inputs in `validate`, and compute in `run`.

    `version` goes into every dedupe key: raise it whenever a change of code changes results, so that results of
    older code are never reused.
    """

    name: ClassVar[str] = ""
    version: ClassVar[int] = 1
    description: ClassVar[str] = ""
    menu_order: ClassVar[int] = 100
    inputs: ClassVar[tuple[InputSpec, ...]] = ()
    # Operations whose products are numbered <key>-<i>; otherwise one product named <key>.
    multiple_outputs: ClassVar[bool] = False
    # Inputs that must be archive frames (products carry no source catalogue).
    archive_only_inputs: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def wizard_description(cls) -> dict:
        return {
            "name": cls.name,
            "description": cls.description,
            "category": "image",
            "inputs": {spec.key: spec.descriptor() for spec in cls.inputs},
        }

    @classmethod
    def input_spec(cls, key: str) -> InputSpec | None:
        return next((spec for spec in cls.inputs if spec.key == key), None)

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why the operation cannot run here (e.g. a resource it needs is not configured), or None: an unavailable
        operation is left out of the wizard's list and refused at submission with this text."""
        return None

    @classmethod
    def normalise_params(cls, params: dict) -> dict:
        """Legacy or alternative spellings mapped onto the declared inputs (before validation); none by default."""
        return params

    @classmethod
    def validate(cls, params: dict, files: Mapping[str, list]) -> None:
        """Checks on resolved inputs beyond the declared rules; raise InputError. `files` maps each fits input to
        its resolved items (with `filter` for archive frames)."""

    def run(self, ctx: RunContext) -> None:
        raise NotImplementedError


_REGISTRY: Mapping[str, type[Operation]] = MappingProxyType({})


def register_operations(
    package: str = "datalab.operations", extra_modules: tuple[str, ...] = ()
) -> Mapping[str, type[Operation]]:
    """Import every module of the operations package (and `extra_modules`, e.g. the test suite's) once and freeze
    the registry, in menu order; a name declared twice stops start-up."""
    global _REGISTRY
    found: dict[str, type[Operation]] = {}
    module = importlib.import_module(package)
    modules = {f"{package}.{info.name}" for info in pkgutil.iter_modules(module.__path__)} | set(extra_modules)
    for name in sorted(modules):
        importlib.import_module(name)
    for operation in _subclasses(Operation):
        if not operation.name or operation.__module__ not in modules:
            continue
        if operation.name in found and found[operation.name] is not operation:
            raise RuntimeError(f"Two datalab operations are named {operation.name!r}")
        found[operation.name] = operation
    ordered = sorted(found.values(), key=lambda op: (op.menu_order, op.name))
    _REGISTRY = MappingProxyType({op.name: op for op in ordered})
    return _REGISTRY


def _subclasses(cls: type) -> list[type]:
    result = []
    for sub in cls.__subclasses__():
        result.append(sub)
        result.extend(_subclasses(sub))
    return result


def registry() -> Mapping[str, type[Operation]]:
    return _REGISTRY


def get_operation(name: str) -> type[Operation] | None:
    return _REGISTRY.get(name)
