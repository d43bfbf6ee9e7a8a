"""The analysis actions' own per-user rate: each reads and renders a whole image in the web process."""

from django.conf import settings

from authentication.throttling import StaffExemptUserRateThrottle


class AnalysisRateThrottle(StaffExemptUserRateThrottle):
    scope = "datalab_analysis"

    def get_rate(self):
        return settings.THROTTLE_DATALAB_ANALYSIS_RATE or None
