"""apps.core.db.values_list_binary: the same rows as the ORM's values_list, read in PostgreSQL's binary format."""
from __future__ import annotations

import pytest
from django.db import connection

from apps.core.db import values_list_binary
from apps.monitoring.models import ObservationInput
from tests.apps.monitoring.factories import observations


@pytest.mark.django_db
def test_binary_rows_equal_the_orms(make_user):
    assert connection.vendor == "postgresql"  # the suite runs on PostgreSQL: the binary path is the one tested
    rows = observations(make_user("analyst"), 30)
    query = ObservationInput.objects.filter(observation__in=rows[5:25]).order_by("observation_id")
    orm = [(i, bytes(u), bytes(e)) for i, u, e in query.values_list("observation_id", "unigrams", "embedding")]
    binary = values_list_binary(query, "observation_id", "unigrams", "embedding")
    assert len(orm) == 20 and binary == orm
    assert values_list_binary(query.filter(observation_id__lt=0), "observation_id") == []
