"""DALI parameter parsing: numbers, intervals, shapes, integers and the fault texts."""

import math

import pytest
from django.http import QueryDict

from vo.params import (
    Circle,
    Interval,
    Polygon,
    Range,
    UsageFault,
    interval,
    maxrec,
    number,
    parameters,
    response_format,
    shape,
    sia_query,
    single,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12", 12.0),
        ("-3.5", -3.5),
        ("5.5e-7", 5.5e-7),
        (".5", 0.5),
        ("+2", 2.0),
        ("Inf", math.inf),
        ("+Inf", math.inf),
        ("-Inf", -math.inf),
        ("inf", math.inf),
        ("-inf", -math.inf),
        ("infinity", math.inf),
        ("INF", math.inf),
    ],
)
def test_numbers(text, value):
    assert number(text, "BAND") == value


@pytest.mark.parametrize("text", ["NaN", "nan", "1e400", "abc", "1_000", "0x10", "1,5", ""])
def test_numbers_refused(text):
    with pytest.raises(UsageFault, match="BAND"):
        number(text, "BAND")


def test_intervals():
    assert interval("1 2", "EXPTIME") == Interval(1, 2)
    assert interval("5", "EXPTIME") == Interval(5, 5)
    assert interval("-Inf 600", "EXPTIME") == Interval(-math.inf, 600)
    # An unencoded + arrives as a space: " Inf" is +Inf.
    assert interval("60000  Inf", "TIME") == Interval(60000, math.inf)
    with pytest.raises(UsageFault, match="TIME: lower bound 60010 is above upper bound 60000"):
        interval("60010 60000", "TIME")
    with pytest.raises(UsageFault, match="one or two numbers, got 3"):
        interval("1 2 3", "BAND")
    with pytest.raises(UsageFault, match="is not a number"):
        interval("1 x", "BAND")


def test_shapes():
    assert shape("CIRCLE 10 20 0.5", max_radius=90) == Circle(10, 20, 0.5)
    assert shape("CIRCLE 10 20 0", max_radius=90) == Circle(10, 20, 0)
    assert shape("RANGE 359 1 -2 2", max_radius=90) == Range(359, 1, -2, 2)
    assert shape("RANGE 0 360 -Inf +Inf", max_radius=90) == Range(0, 360, -90, 90)
    assert shape("RANGE -Inf Inf -2 2", max_radius=90) == Range(-math.inf, math.inf, -2, 2)
    assert shape("POLYGON 10 10 11 10 11 11", max_radius=90) == Polygon(((10, 10), (11, 10), (11, 11)))
    # A repeated first vertex closes the ring explicitly.
    assert shape("POLYGON 10 10 11 10 11 11 10 10", max_radius=90) == Polygon(((10, 10), (11, 10), (11, 11)))
    # Around a pole and across RA 0.
    assert shape("POLYGON 0 85 90 85 180 85 270 85", max_radius=90)
    assert shape("POLYGON 359 -1 1 -1 1 1 359 1", max_radius=90)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("CIRCLE 10 20", "POS: CIRCLE needs 3 numbers, got 2"),
        ("CIRCLE 10 20 -1", "CIRCLE radius -1 is outside"),
        ("CIRCLE 10 20 91", "CIRCLE radius 91 is outside"),
        ("CIRCLE 400 20 1", "RA 400 is outside"),
        ("CIRCLE 10 95 1", "Dec 95 is outside"),
        ("CIRCLE 10 20 Inf", "radius \\+Inf is outside"),
        ("RANGE 1 2 3", "RANGE needs 4 numbers"),
        ("RANGE 1 2 5 3", "dec1 5 is above dec2 3"),
        ("POLYGON 10 10 11 10", "at least 3 vertices"),
        ("POLYGON 10 10 11 10 11", "pairs of numbers"),
        ("POLYGON 10 10 11 11 11 10 10 11", "self-intersecting"),
        ("POLYGON 0 0 120 0 240 0", "smaller than a hemisphere"),
        ("BOX 10 10 1 1", "'BOX' is not CIRCLE, RANGE or POLYGON"),
        ("CIRCLE 10 NaN 1", "'NaN' is not a number"),
    ],
)
def test_shapes_refused(text, message):
    with pytest.raises(UsageFault, match=message):
        shape(text, max_radius=90)


def test_parameters_case_insensitive_empty_ignored_and_nul_refused():
    found = parameters(QueryDict("pos=CIRCLE+1+2+3&Pos=CIRCLE+4+5+6&band=&MAXREC=5"))
    assert found == {"POS": ["CIRCLE 1 2 3", "CIRCLE 4 5 6"], "MAXREC": ["5"]}
    with pytest.raises(UsageFault, match="NUL"):
        parameters(QueryDict("TARGET=M%0051"))


def test_single_valued():
    assert single({"MAXREC": ["5"]}, "MAXREC") == "5"
    assert single({}, "MAXREC") is None
    with pytest.raises(UsageFault, match="MAXREC may be given once"):
        single({"MAXREC": ["5", "6"]}, "MAXREC")


def test_maxrec():
    assert maxrec(None, default=1000, largest=10000) == 1000
    assert maxrec("0", default=1000, largest=10000) == 0
    assert maxrec("99999999999999999999", default=1000, largest=10000) == 10000
    with pytest.raises(UsageFault, match="MAXREC: 'ten' is not an integer"):
        maxrec("ten", default=1000, largest=10000)
    with pytest.raises(UsageFault, match="MAXREC must be 0 or more"):
        maxrec("-1", default=1000, largest=10000)
    with pytest.raises(UsageFault, match="is not an integer"):
        maxrec("1.5", default=1000, largest=10000)


def test_response_format():
    assert response_format(None) is None
    assert response_format("votable") is None
    assert response_format("application/x-votable+xml;serialization=TABLEDATA") == (
        "application/x-votable+xml;serialization=TABLEDATA"
    )
    assert response_format("text/xml") == "text/xml"
    with pytest.raises(UsageFault, match="unsupported RESPONSEFORMAT 'application/json'"):
        response_format("application/json")


def test_sia_query():
    query = sia_query(
        {"POS": ["CIRCLE 1 2 3"], "BAND": ["4e-7 5e-7"], "CALIB": ["2"], "TARGET": ["M51", "M 51"]}, max_radius=90
    )
    assert query.pos == (Circle(1, 2, 3),)
    assert query.interval("BAND") == (Interval(4e-7, 5e-7),)
    assert query.string("TARGET") == ("M51", "M 51")
    assert query.calib == (2,)
    with pytest.raises(UsageFault, match="CALIB must be an integer from 0 to 4, got 5"):
        sia_query({"CALIB": ["5"]}, max_radius=90)
    with pytest.raises(UsageFault, match="CALIB: 'two' is not an integer"):
        sia_query({"CALIB": ["two"]}, max_radius=90)
