"""The one list of domains (finance, medical, general) that jobs, adapters, roles and forms share."""
from django.db import models


class Domain(models.TextChoices):
    FINANCE = "finance"
    MEDICAL = "medical"
    GENERAL = "general"
