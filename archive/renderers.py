"""The API's JSON renderer: DRF's output, encoded by orjson.

A 100-frame page is about 200 kB of JSON; the standard library's encoder spent 2.7 ms of a page on it, a tenth of
the request. orjson writes the same document in about a tenth of that. DRF's renderer remains the fallback for
what orjson does not do the same way: indented output (`application/json; indent=4`, the browsable API) and values
orjson refuses (integers beyond 64 bits).
"""

from collections.abc import Mapping
from typing import Any

import orjson
from rest_framework import renderers
from rest_framework.utils.encoders import JSONEncoder

# Datetimes go to DRF's encoder, which writes them its own way (`Z` for UTC); so do the types orjson does not know
# (decimals, lazy translations, generators, ...). Keys that are not strings are written as json.dumps writes them.
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_NON_STR_KEYS
_LINE_SEPARATOR = "\u2028".encode()
_PARAGRAPH_SEPARATOR = "\u2029".encode()


class JSONRenderer(renderers.JSONRenderer):
    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Mapping[str, Any] | None = None
    ) -> bytes:
        if data is None:
            return b""
        if self.get_indent(accepted_media_type or "", renderer_context or {}) is not None:
            return super().render(data, accepted_media_type, renderer_context)
        try:
            body = orjson.dumps(data, default=JSONEncoder().default, option=_OPTIONS)
        except (orjson.JSONEncodeError, TypeError):
            return super().render(data, accepted_media_type, renderer_context)
        # As DRF does, so that the JSON is also valid JavaScript.
        if _LINE_SEPARATOR in body or _PARAGRAPH_SEPARATOR in body:
            body = body.replace(_LINE_SEPARATOR, b"\\u2028").replace(_PARAGRAPH_SEPARATOR, b"\\u2029")
        return body
