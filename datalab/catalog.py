"""The local reference catalogue: what operations that need stars of a field (astrometry, parallaxes, photometry)
ask, without a network. A provider answers cone searches; the one here reads the `CatalogStar` table, loaded from a
Gaia DR3 extract by `python manage.py load_catalog`."""

from typing import Any, Protocol

from datalab import selectors


class CatalogProvider(Protocol):
    def available(self) -> bool:
        """Whether the catalogue can answer (an operation that needs it is offered only then)."""
        ...

    def cone(self, ra: float, dec: float, radius_deg: float) -> list[dict[str, Any]]:
        """Stars within `radius_deg` of (ra, dec), degrees ICRS: dicts with `source_id`, `ra`, `dec`,
        `phot_g_mean_mag`, `phot_bp_mean_mag`, `phot_rp_mean_mag`, `bp_rp`, `parallax`, `parallax_error` (None
        where the catalogue has no value)."""
        ...


class PostgisCatalog:
    """The `CatalogStar` table: ST_DWithin on a geography point with a GiST index."""

    def available(self) -> bool:
        return selectors.catalog_loaded()

    def cone(self, ra: float, dec: float, radius_deg: float) -> list[dict[str, Any]]:
        return selectors.catalog_cone(ra=ra, dec=dec, radius_deg=radius_deg)


def catalog_provider() -> CatalogProvider:
    return PostgisCatalog()
