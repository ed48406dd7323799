from django.apps import AppConfig


class SurveillanceConfig(AppConfig):
    name = "apps.surveillance"
    label = "surveillance"
    verbose_name = "Surveillance"
