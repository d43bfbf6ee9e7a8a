"""The `get-jpg` action: the science image rendered at full resolution as a JPEG with the limits the user chose."""

import base64
from pathlib import Path

from rest_framework import serializers

from datalab.analysis.fitsread import ImageRequestSerializer
from datalab.operations.imaging import read_science
from datalab.operations.products import render_previews


class RequestSerializer(ImageRequestSerializer):
    zmin = serializers.FloatField(help_text="Pixel value rendered black.")
    zmax = serializers.FloatField(help_text="Pixel value rendered white; greater than `zmin`.")

    def validate(self, attrs):
        if attrs["zmax"] <= attrs["zmin"]:
            raise serializers.ValidationError({"zmax": "zmax must be greater than zmin."})
        return attrs


def run(path: Path, params: dict) -> dict:
    image, _header, _name = read_science(path)
    # The same rendering as every product's large preview, with the user's limits instead of zscale.
    large, _small = render_previews(image, float(params["zmin"]), float(params["zmax"]))
    return {"jpg_base64": base64.b64encode(large).decode("ascii")}
