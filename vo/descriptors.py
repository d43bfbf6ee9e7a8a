"""The service descriptors SIA responses carry: the SIA service itself (its input parameters, so that a client can
build a form) and the DataLink service that lists each row's files (its `ID` taken from `obs_publisher_did`)."""

from django.conf import settings

from vo.vosi import DATALINK_STANDARD_ID, SIA_STANDARD_ID
from vo.votable import Param, ServiceDescriptor


def _interval(name: str, unit: str, ucd: str, description: str) -> Param:
    return Param(name, "double", description, unit=unit, ucd=ucd, xtype="interval", arraysize="2")


def sia_inputs() -> tuple[Param, ...]:
    return (
        Param(
            "POS",
            description="CIRCLE ra dec r, RANGE ra1 ra2 dec1 dec2 or POLYGON ra dec ... (ICRS degrees)",
            ucd="pos.outline;obs",
        ),
        _interval("BAND", "m", "em.wl", "Wavelength interval (vacuum, metres)"),
        _interval("TIME", "d", "time.epoch", "Time interval (MJD, UTC)"),
        Param(
            "POL",
            description="Polarization state (none are offered)",
            ucd="meta.code;phys.polarization",
            options=("I", "Q", "U", "V"),
        ),
        _interval("FOV", "deg", "phys.angSize;instr.fov", "Field of view interval"),
        _interval("SPATRES", "arcsec", "pos.angResolution", "Spatial resolution interval"),
        _interval("EXPTIME", "s", "time.duration;obs.exposure", "Exposure time interval"),
        Param("ID", description="Publisher dataset identifier (obs_publisher_did)", ucd="meta.ref.ivoid"),
        Param("COLLECTION", description="Collection name", ucd="meta.id", options=(settings.VO_COLLECTION,)),
        Param("FACILITY", description="Site and telescope, e.g. lsc-1m0a", ucd="meta.id;instr.tel"),
        Param("INSTRUMENT", description="Instrument code", ucd="meta.id;instr"),
        Param("DPTYPE", description="Data product type", ucd="meta.code.class", options=("image",)),
        Param(
            "CALIB", "int", "Calibration level (ObsCore)", ucd="meta.code;obs.calib", arraysize="", options=("1", "2")
        ),
        Param("TARGET", description="Target name, exact", ucd="meta.id;src"),
        _interval("TIMERES", "s", "time.resolution", "Time resolution interval"),
        _interval("SPECRP", "", "spect.resolution", "Spectral resolving power interval"),
        Param("FORMAT", description="MIME type of the file", ucd="meta.code.mime", options=("image/fits",)),
        Param("MAXREC", "int", "Most rows to return", arraysize=""),
    )


def sia_self(access_url: str) -> ServiceDescriptor:
    return ServiceDescriptor("this", SIA_STANDARD_ID, access_url, sia_inputs())


def datalink(access_url: str) -> ServiceDescriptor:
    identifier = Param(
        "ID", description="Publisher dataset identifier", ucd="meta.id;meta.main", ref="obs_publisher_did"
    )
    return ServiceDescriptor("datalink", DATALINK_STANDARD_ID, access_url, (identifier,))
