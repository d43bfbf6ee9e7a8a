"""VOSI documents: the capabilities of the SIA, cone-search and DataLink services, and their availability."""

from xml.sax.saxutils import escape

from django.conf import settings

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<vosi:capabilities xmlns:vosi="http://www.ivoa.net/xml/VOSICapabilities/v1.0" '
    'xmlns:vs="http://www.ivoa.net/xml/VODataService/v1.1" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"{extra}>\n'
)
CONE_NAMESPACE = ' xmlns:cs="http://www.ivoa.net/xml/ConeSearch/v1.0"'
SIA_STANDARD_ID = "ivo://ivoa.net/std/SIA#query-2.0"
CONE_STANDARD_ID = "ivo://ivoa.net/std/ConeSearch"
DATALINK_STANDARD_ID = "ivo://ivoa.net/std/DataLink#links-1.1"


def _vosi_capability(standard_id: str, url: str) -> str:
    return (
        f' <capability standardID="{standard_id}">\n'
        '  <interface xsi:type="vs:ParamHTTP" version="1.0">'
        f'<accessURL use="full">{escape(url)}</accessURL></interface>\n'
        " </capability>\n"
    )


def security_methods() -> str:
    """Anonymous, the portal's bearer tokens, and HTTP Basic when it is accepted (SSO 2.0)."""
    methods = '   <securityMethod/>\n   <securityMethod standardID="ivo://ivoa.net/sso#OAuth"/>\n'
    if settings.VO_BASIC_AUTH:
        methods += '   <securityMethod standardID="ivo://ivoa.net/sso#BasicAA"/>\n'
    return methods


def _interface(url: str, *, version: str, use: str = "base") -> str:
    return (
        f'  <interface xsi:type="vs:ParamHTTP" role="std" version="{version}">\n'
        f'   <accessURL use="{use}">{escape(url)}</accessURL>\n'
        f"{security_methods()}"
        "  </interface>\n"
    )


def capabilities(*, kind: str, base: str, query_url: str, test_position: tuple[float, float] | None = None) -> str:
    """The capabilities document of `kind` (`sia`, `scs` or `datalink`) whose VOSI endpoints are under `base`."""
    parts = [HEAD.format(extra=CONE_NAMESPACE if kind == "scs" else "")]
    parts.append(_vosi_capability("ivo://ivoa.net/std/VOSI#capabilities", f"{base}/capabilities"))
    parts.append(_vosi_capability("ivo://ivoa.net/std/VOSI#availability", f"{base}/availability"))
    if kind == "sia":
        parts.append(
            f' <capability standardID="{SIA_STANDARD_ID}">\n{_interface(query_url, version="2.0")} </capability>\n'
        )
    elif kind == "datalink":
        parts.append(
            f' <capability standardID="{DATALINK_STANDARD_ID}">\n'
            f"{_interface(query_url, version='1.1', use='full')} </capability>\n"
        )
    else:
        ra, dec = test_position or (0.0, 0.0)
        parts.append(
            f' <capability standardID="{CONE_STANDARD_ID}" xsi:type="cs:ConeSearch">\n'
            f"{_interface(query_url + '?', version='1.03')}"
            f"  <maxSR>{settings.VO_MAX_RADIUS_DEGREES:g}</maxSR>\n"
            f"  <maxRecords>{settings.VO_MAX_MAXREC}</maxRecords>\n"
            "  <verbosity>true</verbosity>\n"
            f"  <testQuery><ra>{ra!r}</ra><dec>{dec!r}</dec><sr>0.01</sr></testQuery>\n"
            " </capability>\n"
        )
    parts.append("</vosi:capabilities>\n")
    return "".join(parts)


def availability(*, available: bool, note: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<vosi:availability xmlns:vosi="http://www.ivoa.net/xml/VOSIAvailability/v1.0">\n'
        f" <vosi:available>{'true' if available else 'false'}</vosi:available>\n"
        f" <vosi:note>{escape(note)}</vosi:note>\n"
        "</vosi:availability>\n"
    )
