"""The weekly refresh covers every study in one run."""

from __future__ import annotations

import dagster as dg

from meta_bm.orchestration.jobs import RANGE_END_TAG, RANGE_START_TAG
from meta_bm.orchestration.partitions import STUDY_PARTITIONS_NAME
from meta_bm.orchestration.schedules import weekly_refresh


def test_weekly_refresh_is_one_range_run():
    with dg.instance_for_test() as instance:
        assert isinstance(weekly_refresh(dg.build_schedule_context(instance=instance)), dg.SkipReason)
        instance.add_dynamic_partitions(STUDY_PARTITIONS_NAME, ["b_2020", "a_2021", "c_2019"])
        req = weekly_refresh(dg.build_schedule_context(instance=instance))
        assert (req.tags[RANGE_START_TAG], req.tags[RANGE_END_TAG]) == ("b_2020", "c_2019")
    assert weekly_refresh.cron_schedule == "0 3 * * 1"
