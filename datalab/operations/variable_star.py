"""Variable Star: the target's light curve and a Lomb-Scargle search of it for a period."""

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from astropy.timeseries import LombScargle

from datalab.operations.base import Operation, OperationError, source_input
from datalab.operations.light_curve import (
    MATCH_RADIUS_ARCSEC,
    check_filters,
    json_float,
    light_curve,
    photometry_input,
)

MINIMUM_POINTS = 8
# Astropy's automatic grid grows with the number of points times the baseline; past this many frequencies the
# search slows and the output (returned to the browser whole) grows without making the peak any clearer.
MAX_FREQUENCIES = 10_000


@dataclass
class Periodogram:
    frequency: np.ndarray  # cycles per day
    power: np.ndarray
    period: float  # days
    fap: float
    candidates: list[dict]


def frequency_grid(search: LombScargle) -> np.ndarray:
    """Astropy's automatic grid, or MAX_FREQUENCIES frequencies evenly spaced between its bounds when it is longer."""
    frequency = search.autofrequency()
    if len(frequency) > MAX_FREQUENCIES:
        frequency = np.linspace(frequency[0], frequency[-1], MAX_FREQUENCIES)
    return frequency


def periodogram(times: np.ndarray, mags: np.ndarray, errors: np.ndarray) -> Periodogram:
    """The Lomb-Scargle periodogram of a light curve (times in days) and its peak; ValueError, ArithmeticError or
    LinAlgError when the search fails."""
    if np.ptp(times) <= 0:
        raise ValueError("the frames span no time")
    search = LombScargle(times, mags, errors)
    with np.errstate(all="ignore"):
        frequency = frequency_grid(search)
        power = search.power(frequency)
    if not np.isfinite(power).any():
        raise ValueError("the periodogram has no finite power")
    peak = int(np.nanargmax(power))
    bounds = {"minimum_frequency": frequency[0], "maximum_frequency": frequency[-1]}

    def false_alarm(value: float) -> float:
        return float(search.false_alarm_probability(value, **bounds))

    best_frequency, best_power = float(frequency[peak]), float(power[peak])
    # Half the frequency: an eclipsing or ellipsoidal binary has two similar minima per orbit, so its strongest
    # peak often sits at half the true period.
    double_power = float(search.power(best_frequency / 2))
    candidates = [
        {
            "kind": "peak",
            "period": 1 / best_frequency,
            "power": best_power,
            "false_alarm_probability": false_alarm(best_power),
            "description": "The strongest peak of the periodogram.",
        },
        {
            "kind": "double",
            "period": 2 / best_frequency,
            "power": double_power,
            "false_alarm_probability": false_alarm(double_power),
            "description": "Twice the peak period: the true period of a binary whose two minima per orbit look alike.",
        },
    ]
    return Periodogram(frequency, power, 1 / best_frequency, candidates[0]["false_alarm_probability"], candidates)


class VariableStar(Operation):
    name = "Variable Star"
    version = 1
    description = (
        "Measures the target's light curve (the nearest catalogue source within "
        f"{MATCH_RADIUS_ARCSEC:g} arcsec in each frame) and searches it for a period with a Lomb-Scargle "
        f"periodogram. Needs at least {MINIMUM_POINTS} frames of one filter; a longer date range finds longer "
        "periods."
    )
    menu_order = 70
    inputs = (source_input(), photometry_input(minimum=MINIMUM_POINTS))
    archive_only_inputs = ("input_files",)

    @classmethod
    def validate(cls, params: dict, files: Mapping[str, list]) -> None:
        check_filters(cls.name, files.get("input_files", []))

    def run(self, ctx) -> None:
        data = light_curve(ctx, progress_until=0.8)
        points = [
            row
            for row in data["light_curve"]
            if math.isfinite(row["mag"]) and row["magerr"] is not None and row["magerr"] > 0
        ]
        if len(points) < MINIMUM_POINTS:
            raise OperationError(
                f"Variable Star needs at least {MINIMUM_POINTS} frames with a measured magnitude, but only "
                f"{len(points)} have one. Choose a longer date range to include more frames."
            )
        ctx.progress(0.8, "Searching for a period")
        try:
            result = periodogram(
                np.array([row["julian_date"] for row in points]),
                np.array([row["mag"] for row in points]),
                np.array([row["magerr"] for row in points]),
            )
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as error:
            raise OperationError(f"Period search failed: {error}") from error
        ctx.progress(0.95, "Period found")
        data.update(
            period=json_float(result.period),
            fap=json_float(result.fap),
            frequency=[json_float(value) for value in result.frequency],
            power=[json_float(value) for value in result.power],
            period_candidates=[
                {key: json_float(value) if isinstance(value, float) else value for key, value in candidate.items()}
                for candidate in result.candidates
            ],
        )
        ctx.set_data(data)
        ctx.progress(1.0, "Period search complete")
