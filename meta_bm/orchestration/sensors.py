"""Watch ``data/studies``: new folders add a partition and run, edits rerun, removed folders are purged.

The sensor only lists folders and hashes their files; it never opens DuckDB. Its cursor keeps a
short content hash per study and a generation counter, and every run key carries both, so an
edited study always reruns, and a study that is removed and added back is processed again.
"""

import hashlib
import json

import dagster as dg

from meta_bm.orchestration.jobs import cohort_refresh_job, range_tags, study_refresh_job
from meta_bm.orchestration.partitions import STUDY_PARTITIONS_NAME, study_partitions
from meta_bm.orchestration.resources import StudyFolders

HASH_CHARS = 16


def _cursor(text: str | None) -> tuple[dict[str, str], int]:
    if not text:
        return {}, 0
    data = json.loads(text)
    return dict(data.get("fp", {})), int(data.get("gen", 0))


@dg.sensor(
    jobs=[study_refresh_job, cohort_refresh_job],
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="New, changed and removed study folders under the studies root.",
)
def study_folder_sensor(context: dg.SensorEvaluationContext, folders: StudyFolders) -> dg.SensorResult:
    seen, gen = _cursor(context.cursor)
    current = {sid: fp[:HASH_CHARS] for sid, fp in folders.fingerprints().items()}
    known = set(context.instance.get_dynamic_partitions(STUDY_PARTITIONS_NAME))
    new = [s for s in current if s not in known]
    removed = sorted(known - set(current))
    # A partition the cursor has not seen (first tick on an existing instance) is adopted as is.
    changed = [s for s in current if s in known and s in seen and seen[s] != current[s]]
    cursor = json.dumps({"fp": current, "gen": gen + 1 if (new or removed or changed) else gen})
    if not (new or removed or changed):
        return dg.SensorResult(skip_reason="no new, changed or removed study folders", cursor=cursor)
    gen += 1
    requests = []
    if new:
        tag = hashlib.sha256("".join(f"{s}{current[s]}" for s in new).encode()).hexdigest()[:HASH_CHARS]
        kw = {"partition_key": new[0]} if len(new) == 1 else {"tags": range_tags(new[0], new[-1])}
        requests.append(dg.RunRequest(job_name=study_refresh_job.name, run_key=f"new:{gen}:{tag}", **kw))
    for s in changed:
        requests.append(
            dg.RunRequest(job_name=study_refresh_job.name, partition_key=s, run_key=f"{s}:{current[s]}:{gen}")
        )
    if removed:
        requests.append(
            dg.RunRequest(
                job_name=cohort_refresh_job.name,
                run_key=f"removed:{gen}:{','.join(removed)}"[:200],
            )
        )
    context.log.info(f"new {new}, changed {changed}, removed {removed}")
    partition_requests = []
    if new:
        partition_requests.append(study_partitions.build_add_request(new))
    if removed:
        partition_requests.append(study_partitions.build_delete_request(removed))
    return dg.SensorResult(run_requests=requests, dynamic_partitions_requests=partition_requests, cursor=cursor)
