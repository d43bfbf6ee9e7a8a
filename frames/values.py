"""Value helpers shared by ingest, query filters and FITS reading; a leaf module that imports nothing of the project."""


def normalise_longitude(ra: float) -> float:
    """RA in degrees, in [-180, 360], as the longitude footprints are stored with: RA over 180 less 360.

    RA 180 stays 180 (the stored range is [-180, 180]); values already in range are returned as given, untouched by
    floating-point arithmetic.
    """
    return ra - 360.0 if ra > 180.0 else ra
