from django.apps import AppConfig


class VoConfig(AppConfig):
    name = "vo"
    verbose_name = "Virtual Observatory"

    def ready(self) -> None:
        from vo import checks  # noqa: F401  (registers the settings checks)
