"""DataLink `{links}`: for each frame its file (`#this`), thumbnails (`#preview`), related calibration frames' files
(`#calibration`) and FITS headers (`#auxiliary`); rows of one ID are consecutive, an unknown ID is one error row."""

from collections.abc import Callable, Iterator
from typing import Any

from vo.obscore import Column

COLUMNS: tuple[Column, ...] = (
    Column("ID", "char", "meta.id;meta.main", "The identifier these links are for"),
    Column("access_url", "char", "meta.ref.url", "URL of the linked resource"),
    Column("service_def", "char", "meta.ref", "Service descriptor of a service link (none)"),
    Column("error_message", "char", "meta.code.error", "Why there is no link"),
    Column("semantics", "char", "meta.code", "What the link is, from the DataLink vocabulary"),
    Column("description", "char", "meta.note", "What the link is, in words"),
    Column("content_type", "char", "meta.code.mime", "MIME type of the linked resource"),
    Column("content_length", "long", "phys.size;meta.file", "Size of the linked resource", unit="byte"),
)

CONTENT_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".fits": "application/fits"}


def _content_type(extension: str) -> str:
    return CONTENT_TYPES.get(extension.lower(), "application/fits" if ".fits" in extension else "")


def _current(frame: Any) -> Any:
    return frame.prefetched_versions[0] if frame.prefetched_versions else None


def link_rows(
    identifiers: list[str],
    frames: dict[str, Any],
    related: dict[int, Any],
    *,
    basename_of: Callable[[str], str | None],
    version_url: Callable[[Any, Any], str],
    thumbnail_url: Callable[[Any], str],
    headers_url: Callable[[Any], str],
) -> Iterator[list[Any]]:
    """The rows of the links table, in the order of `identifiers`."""
    for identifier in identifiers:
        basename = basename_of(identifier)
        frame = frames.get(basename.upper()) if basename else None
        if frame is None:
            yield [
                identifier,
                None,
                None,
                f"NotFoundFault: {identifier} is not a frame you may see",
                None,
                None,
                None,
                None,
            ]
            continue
        version = _current(frame)
        if version is not None:
            yield [
                identifier,
                version_url(frame, version),
                None,
                None,
                "#this",
                f"The frame's file ({frame.basename}{version.extension})",
                _content_type(version.extension),
                version.size,
            ]
        for thumbnail in frame.prefetched_thumbnails:
            yield [
                identifier,
                thumbnail_url(thumbnail),
                None,
                None,
                "#preview",
                f"Preview image ({thumbnail.size})",
                _content_type(thumbnail.extension),
                None,
            ]
        for related_id in frame.prefetched_related_ids:
            other = related.get(related_id)
            other_version = _current(other) if other is not None else None
            if other_version is None:
                continue
            yield [
                identifier,
                version_url(other, other_version),
                None,
                None,
                "#calibration",
                f"Related frame {other.basename} ({other.configuration_type or 'unknown type'})",
                _content_type(other_version.extension),
                other_version.size,
            ]
        yield [
            identifier,
            headers_url(frame),
            None,
            None,
            "#auxiliary",
            "The FITS header as JSON",
            "application/json",
            None,
        ]
