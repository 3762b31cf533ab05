"""Study labels ("Author Year") read from free-text citations, as forest plots and tables print them."""

from __future__ import annotations

import pytest

from meta_bm.studies.citation import study_label, study_labels


@pytest.mark.parametrize(
    ("citation", "expected"),
    [
        ("Telera S, Fabi A, Pace A et al. The role of surgery. Neurosurg Rev 2024", "Telera 2024"),
        ("Iorio-Morin C et al. Repeat stereotactic radiosurgery. J Neurooncol 2019", "Iorio-Morin 2024"),
        ("Hulsbergen AFC, Abunimer AM. Neurosurgical resection", "Hulsbergen 2024"),
        ("van der Berg K, Jones A. Salvage SRS", "van der Berg 2024"),
        ("Müller T et al. Re-resection", "Müller 2024"),
        ("O'Brien P, Smith J. Re-irradiation", "O'Brien 2024"),
    ],
)
def test_surname_and_year_from_the_citation(citation, expected):
    assert study_label("any_2024", citation, 2024) == expected


def test_fallbacks_synthetic_free_text_institutional_and_no_year():
    assert study_label("brandt_2018", "SYNTHETIC example study brandt_2018", 2018) == "Brandt 2018"
    assert study_label("de_souza_2021", "a retrospective series from our centre", 2021) == "De Souza 2021"
    assert study_label("local_cohort", "SYNTHETIC cohort", 2025, source="institutional") == "Institutional cohort 2025"
    assert study_label("smith", None, None) == "Smith"


def test_duplicate_labels_are_made_unique():
    rows = [
        ("li_2020a", "Li X et al. 2020", 2020),
        ("li_2020b", "Li Y et al. 2020", 2020),
        ("wu_2019", "Wu Z, Chen Q", 2019),
        ("wu_trial_2019", "Wu Z, Chen Q", 2019),
    ]
    assert study_labels(rows) == {
        "li_2020a": "Li 2020a",
        "li_2020b": "Li 2020b",
        "wu_2019": "Wu 2019 [wu_2019]",
        "wu_trial_2019": "Wu 2019 [wu_trial_2019]",
    }
