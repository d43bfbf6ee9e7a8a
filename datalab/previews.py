"""Preview pictures of archive frames that have no thumbnails: rendered from the FITS file the first time one is
asked for, kept in the products' storage under the version's md5, and served behind signed links that name the
user, so that a frame's visibility is checked again on every fetch (the datalab grid shows a session's frames by
these pictures)."""

import time

from django.core import signing
from django.core.files.base import ContentFile
from django.urls import reverse

from datalab.operations.imaging import read_science
from datalab.operations.products import render_previews
from datalab.operations.resolve import archive_file
from datalab.storage import product_storage
from frames.models import Version

SALT = "datalab.preview"
SIZES = ("small", "large")
# As the frames' own links: hour-rounded so that the URL stays the same all hour (the front-end caches previews).
_ROUNDING_SECONDS = 3600
VALID_SECONDS = 2 * 86400


def preview_links(*, version: Version, user_id: int | None, base_url: str) -> dict[str, str]:
    """`small_url` and `large_url` of the version's previews for this user."""
    issued = int(time.time()) // _ROUNDING_SECONDS * _ROUNDING_SECONDS
    links = {}
    for size in SIZES:
        token = signing.Signer(salt=SALT).sign_object([version.id, user_id, issued, size])
        links[f"{size}_url"] = base_url + reverse("datalab:frame-preview", kwargs={"token": token})
    return links


def preview_target(token: str) -> tuple[int, int | None, str] | None:
    """(version id, user id, size) of a valid, unexpired link; None otherwise."""
    try:
        version_id, user_id, issued, size = signing.Signer(salt=SALT).unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if size not in SIZES or int(issued) + VALID_SECONDS < time.time():
        return None
    return int(version_id), user_id, size


def preview_jpeg(*, version: Version, size: str) -> bytes:
    """The stored preview, rendered (both sizes at once) the first time."""
    storage = product_storage()
    key = f"datalab/previews/{version.md5}-{size}.jpg"
    if not storage.exists(key):
        data, _header, _hdu = read_science(archive_file(version=version), basename=version.frame.basename)
        large, small = render_previews(data)
        for name, picture in (("large", large), ("small", small)):
            storage.save(f"datalab/previews/{version.md5}-{name}.jpg", ContentFile(picture))
    with storage.open(key, "rb") as handle:
        return handle.read()
