from django.apps import AppConfig


class CrisesConfig(AppConfig):
    name = "geoloc_platform.crises"
    label = "crises"
    verbose_name = "Crisis projects"
