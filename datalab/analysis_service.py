"""The analysis actions behind one entry point: the named image resolved for the user (404 when they may not see
it), read through the scratch cache, and handed to the action's module; `get-tif` stores its TIFF once."""

import base64

from django.conf import settings
from django.core.files.base import ContentFile
from rest_framework import serializers

from datalab.analysis import ACTIONS
from datalab.analysis.fitsread import tif_image
from datalab.jsonsafe import json_safe
from datalab.operations.base import OperationError
from datalab.operations.products import tiff_gray16
from datalab.operations.resolve import (
    IMAGE_PRODUCT_OPERATIONS,
    Resolved,
    archive_file,
    product_file,
    product_name,
    resolve_items,
)
from datalab.storage import product_key, product_storage, sign_url

GET_TIF = "get-tif"


class GetTifSerializer(serializers.Serializer):
    basename = serializers.CharField(max_length=1000, help_text="The image: a frame's or a product's basename")
    source = serializers.ChoiceField(choices=["archive", "datalab"], default="archive", help_text="Where it is")


def request_schemas() -> dict[str, type[serializers.Serializer]]:
    """Each action's request serializer under a name of its own, for the OpenAPI description (the modules all call
    theirs RequestSerializer)."""
    named = {GET_TIF: GetTifSerializer}
    for action, module in ACTIONS.items():
        title = "".join(part.title() for part in action.split("-"))
        named[action] = type(f"{title}Serializer", (module.RequestSerializer,), {})
    return named


def analysis_request_serializer(action: str):
    if action == GET_TIF:
        return GetTifSerializer
    module = ACTIONS.get(action)
    return module.RequestSerializer if module is not None else None


def _product(resolved: Resolved) -> dict:
    name = product_name(resolved.run.key, resolved.index)
    for product in (resolved.run.output or {}).get("output_files", []):
        if product.get("basename") == name:
            return product
    raise OperationError(f"The product {name} is not ready yet.")


def _local_path(resolved: Resolved):
    if resolved.source == "archive":
        return archive_file(version=resolved.version)
    product = _product(resolved)
    return product_file(storage_key=product["keys"]["fits"], cache_name=f"{product['basename']}.fits")


def analysis_perform(*, user, action: str, data: dict, base_url: str):
    item = {"basename": data["basename"], "source": data.get("source") or "archive"}
    resolved = resolve_items(user=user, items=[item], fits_only=False)[0]
    params = {key: value for key, value in data.items() if key not in ("basename", "source")}
    if resolved.source == "datalab" and resolved.run.name in IMAGE_PRODUCT_OPERATIONS:
        return _colour_product(resolved, action, base_url)
    if action == GET_TIF:
        return {"tif_url": _stored_tif(resolved, base_url)}
    return json_safe(ACTIONS[action].run(_local_path(resolved), params))


def _colour_product(resolved: Resolved, action: str, base_url: str) -> dict:
    """A colour image has no single science plane: its stored pictures answer the actions that show it."""
    product = _product(resolved)
    if action == "get-jpg":
        with product_storage().open(product["keys"]["large"], "rb") as handle:
            return {"jpg_base64": base64.b64encode(handle.read()).decode("ascii")}
    if action == GET_TIF and "tif" in product["keys"]:
        return {
            "tif_url": sign_url(product["keys"]["tif"], expires=settings.DATALAB_URL_EXPIRY_SECONDS, base_url=base_url)[
                0
            ]
        }
    raise OperationError(f"{product['basename']} is a colour image; it can only be shown or downloaded.")


def _stored_tif(resolved: Resolved, base_url: str) -> str:
    """The 16-bit TIFF of the image, rendered the first time it is asked for and kept under a content name."""
    if resolved.source == "archive":
        key = f"datalab/tif/{resolved.version.md5}.tif"
    else:
        key = product_key(resolved.run.key, f"{product_name(resolved.run.key, resolved.index)}.tif")
    storage = product_storage()
    if not storage.exists(key):
        image, zmin, zmax = tif_image(_local_path(resolved))
        storage.save(key, ContentFile(tiff_gray16(image, zmin, zmax)))
    return sign_url(key, expires=settings.DATALAB_URL_EXPIRY_SECONDS, base_url=base_url)[0]
