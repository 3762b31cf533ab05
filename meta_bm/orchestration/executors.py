"""Where a run's steps execute, per deployment: in the run's own process (embedded default) or on Dask.

``local``: :data:`dagster.in_process_executor`. The study step and the pooled step each write the DuckDB
file, one writer at a time, so a process per step would cost seconds for nothing.

``shared``: ``dagster-dask``'s executor against an existing Dask scheduler (``$META_BM_DASK_SCHEDULER``):
each step of a run is a Dask task, and the runs of a backfill (chunks of studies, see
:func:`meta_bm.settings.studies_per_run`) spread over the workers. A worker that dies mid-step has its task
rescheduled by Dask on another worker; the study step is idempotent (a study is replaced as a unit), so the
rerun stores the same rows.

Two corrections to dagster-dask 0.29.27's executor, in :class:`RunScopedDaskExecutor` (everything else is
dagster-dask's: ``query_on_dask_worker`` runs the step on the worker, as there):

* it names a step's Dask task ``<job>.<step>``, the same name in every run of a job, and Dask merges tasks of
  the same name: two runs of one job at once would execute the step once and report the second run
  successful without running it (dagster-io/dagster#21418, closed unfixed). The run id is added to the name;
* with the pinned Dask (2026.8) every run fails before its first step ("Iteration is not allowed on
  `@record` RunOpConcurrency"): Dask walks the task's tuple-like arguments, and the Dagster run record
  refuses iteration. The Dagster objects are bound in a ``functools.partial`` instead.
"""

from __future__ import annotations

import functools

import dagster as dg
from dagster._core.definitions.executor_definition import executor
from dagster._core.errors import raise_execution_interrupts
from dagster._utils import iterate_with_context

from meta_bm import settings


def _dask_executor_class():
    import dask.distributed
    from dagster_dask.executor import DaskExecutor, get_dask_resource_requirements, query_on_dask_worker

    class RunScopedDaskExecutor(DaskExecutor):
        """dagster-dask's executor with run-unique task names (see the module docstring)."""

        def execute(self, plan_context, execution_plan):
            if self.cluster_type != "existing":  # (only the existing-scheduler form is used and tested here)
                raise ValueError(f"meta_bm runs on an existing Dask scheduler, not a {self.cluster_type!r} cluster")
            run_id = plan_context.dagster_run.run_id
            instance_ref = plan_context.instance.get_ref()
            with dask.distributed.Client(self.cluster_configuration["address"]) as client:
                futures: dict[str, dask.distributed.Future] = {}
                for level in execution_plan.get_steps_to_execute_by_level():
                    for step in level:
                        deps = [futures[k] for inp in step.step_inputs for k in inp.dependency_keys]
                        # Dagster's objects are bound in a partial: Dask (2024.12 on) walks tuple-like
                        # arguments looking for tasks, and Dagster's records refuse to be iterated
                        step_on_worker = functools.partial(
                            query_on_dask_worker,
                            recon_job=plan_context.reconstructable_job,
                            dagster_run=plan_context.dagster_run,
                            run_config=plan_context.run_config,
                            step_keys=[step.key],
                            instance_ref=instance_ref,
                            known_state=execution_plan.known_state,
                        )
                        futures[step.key] = client.submit(
                            step_on_worker,
                            deps,
                            key=f"{plan_context.job_name}.{step.key}.{run_id}",
                            resources=get_dask_resource_requirements(step.tags),
                        )
                done = dask.distributed.as_completed(list(futures.values()), with_results=True)
                for _future, events in iterate_with_context(raise_execution_interrupts, done):
                    yield from events

    return RunScopedDaskExecutor


@executor(
    name="dask",
    requirements=dg.multiple_process_executor_requirements(),
    config_schema={"scheduler": dg.Field(dg.StringSource, description="Address of the Dask scheduler")},
)
def run_scoped_dask_executor(init_context):
    """Steps as Dask tasks on the scheduler ``scheduler`` (``{"env": "META_BM_DASK_SCHEDULER"}`` by default)."""
    return _dask_executor_class()("existing", {"address": init_context.executor_config["scheduler"]})


def where_running() -> str:
    """Where this step executes, for its log: the Dask worker (name and address), else this process and host."""
    import os
    import socket
    import sys

    if "distributed" in sys.modules:  # (only imported on a Dask worker or by the Dask executor)
        from distributed import get_worker

        try:
            worker = get_worker()
            return f"Dask worker {worker.name} ({worker.address}, pid {os.getpid()})"
        except ValueError:  # not inside a Dask task
            pass
    return f"process {os.getpid()} on {socket.gethostname()}"


def check_scheduler(address: str | None = None, timeout: float = 5.0) -> str:
    """The Dask scheduler's address (``$META_BM_DASK_SCHEDULER`` unless given) once it answers on TCP.

    Raises
    ------
    meta_bm.settings.SettingsError
        The address is missing or malformed, or nothing answers there within ``timeout`` seconds.
    """
    import socket

    address = address or settings.dask_scheduler()
    host, _, port = address.partition("://")[2].rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return address
    except OSError as exc:
        raise settings.SettingsError(
            f"no Dask scheduler answers at {address} ({settings.DASK_SCHEDULER_VAR}): {exc}"
        ) from None


def make_executor(deployment: str | None = None) -> dg.ExecutorDefinition:
    """The executor of every job of a deployment (see the module docstring)."""
    if settings.current_deployment(deployment) == "local":
        return dg.in_process_executor
    return run_scoped_dask_executor.configured(
        {"scheduler": {"env": settings.DASK_SCHEDULER_VAR}}, name="dask_on_scheduler"
    )
