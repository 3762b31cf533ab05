"""Software-defined assets, one module per stage: the per-study unit, then the pooled assets."""

from meta_bm.orchestration.assets.pooled import build_pooled_asset
from meta_bm.orchestration.assets.studies import STUDY_SPECS, build_study_unit, study_unit

__all__ = ["STUDY_SPECS", "build_pooled_asset", "build_study_unit", "study_unit"]
