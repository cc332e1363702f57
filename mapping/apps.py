from django.apps import AppConfig


class MappingConfig(AppConfig):
    name = "mapping"
    verbose_name = "Maps and exports"
