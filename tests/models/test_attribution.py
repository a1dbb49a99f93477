"""The attribution fields are named once: the visit's and the lead's columns, the lead API's
input and output, and the lead import all follow the lists in leadline.models.attribution."""

from __future__ import annotations

from leadline.leads.import_rows import FIELDS_BY_NAME
from leadline.leads.schemas import LeadCreate
from leadline.models import CLICK_ID_FIELDS, CONSENT_FIELDS, UTM_FIELDS, Lead, Visit
from leadline.surfaces.octanist.schemas import LEAD_FIELDS, LeadOut

NAMES = (*CLICK_ID_FIELDS, *UTM_FIELDS, *CONSENT_FIELDS)


def test_a_visit_and_a_lead_have_a_column_for_every_name() -> None:
    for model in (Visit, Lead):
        columns = set(model.__table__.columns.keys())
        assert set(NAMES) <= columns, model.__name__


def test_the_lead_api_takes_and_shows_every_name() -> None:
    assert set(NAMES) <= set(LeadCreate.model_fields)
    assert set(NAMES) <= set(LEAD_FIELDS)
    assert set(NAMES) <= set(LeadOut.model_fields)


def test_a_lead_import_reads_every_name() -> None:
    assert set(NAMES) <= set(FIELDS_BY_NAME)
