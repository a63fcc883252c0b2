# The workflow talking to the user. Before any job starts: everything the DAG's jobs need that only a
# person (or an online machine) can provide, listed once, and nothing is run; the downloads it will
# start, with the key that does without each (dra.plan.preflight). A dry run opens with the plan on
# one screen (dra.plan.overview); while runs finish, one progress line each; at the end, the runs
# done, failed, interrupted and not run, naming every failed job they hang on (dra.plan.console).
import logging

from snakemake.logging import logger

from dra.plan.console import TRAIN_RULES, Console, closing_lines
from dra.plan.console import run_of as run_of_wildcards
from dra.plan.lock import hold_lock
from dra.plan.matrix import empty_selected
from dra.plan.overview import overview
from dra.plan.preflight import (
    blockers,
    download_advice,
    downloads,
    downloads_message,
    message,
)


def planned_jobs():
    return [
        (job.rule.name, dict(job.wildcards.items()))
        for job in workflow.dag.needrun_jobs()
    ]


def planned_runs():
    """The runs this invocation trains (the DAG's train jobs that need to run)."""
    return [
        run_of_wildcards(dict(job.wildcards.items()))
        for job in workflow.dag.needrun_jobs()
        if job.rule.name in TRAIN_RULES
    ]


@functools.cache
def _jobs_by_id():
    return {job_id(job): job for job in workflow.dag.jobs}


def job_id(job):
    try:
        return workflow.dag.jobid(job)
    except (
        KeyError
    ):  # a job Snakemake numbered no id for: never logged, so never asked about
        return None


def dependent_runs(jobid):
    """Every run whose training needs the job's output, directly or through other jobs."""
    job = _jobs_by_id().get(jobid)
    seen, todo, runs = set(), [job] if job is not None else [], []
    while todo:
        for nxt in workflow.dag.depending[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
                if nxt.rule.name in TRAIN_RULES:
                    runs.append(run_of_wildcards(dict(nxt.wildcards.items())))
    return runs


def runs_in_dag():
    return {
        run_of_wildcards(dict(job.wildcards.items()))
        for job in workflow.dag.jobs
        if job.rule.name in TRAIN_RULES
    }


def failure_advice(failure, hanging):
    if failure.rule.startswith("download_") and hanging:
        return download_advice(config, failure.rule[len("download_") :], hanging)
    return ""


def finish_whole_runs():
    """Runs that ended whole after Snakemake stopped scheduling (SIGINT to Snakemake alone lets its
    running jobs end, but leaves their outputs marked incomplete, so the next invocation would train
    them again): recorded as finished, as Snakemake would have done (its persistence API, pinned
    9.27.1). Only jobs that started in this session and reported no error: their outputs are their
    own, and a run's metrics.json is written last, so a run folder holding it is whole.
    """
    for job in list(workflow.dag.needrun_jobs()):
        if (
            job.rule.name in TRAIN_RULES
            and CONSOLE.started_here(job_id(job))
            and all(Path(f).is_file() for f in job.output)
        ):
            workflow.async_run(workflow.persistence.finished(job))


def config_sources():
    """'config/config.yaml + config/demo.yaml': the config files in the order Snakemake merged them."""
    base = (ROOT / "config" / "config.yaml").resolve()
    files = [Path(f) for f in workflow.configfiles if Path(f).resolve() != base]
    shown = [
        (
            str(f.resolve().relative_to(ROOT))
            if f.resolve().is_relative_to(ROOT)
            else str(f)
        )
        for f in files
    ]
    return " + ".join(["config/config.yaml", *shown])


def closing():
    lines = closing_lines(
        RUNS,
        RES,
        CONSOLE.failures,
        dependent_runs,
        runs_in_dag(),
        workflow.execution_settings.keep_going,
        failure_advice,
        stopped=CONSOLE.stopped,
    )
    if Path(f"{RES}/tables").is_dir():
        lines.append(
            f"tables: {RES}/tables/ (CSV, Markdown, LaTeX, HTML); figures: {RES}/plots/"
        )
    lines.append(
        f"report: snakemake --report {RES}/report.html (with the same --configfile/--config)"
    )
    return lines


# our lines go where Snakemake's own go (its console handler's stream), so that they keep their order
SAY = next(
    (
        h.stream
        for h in logger.handlers
        if isinstance(h, logging.StreamHandler) and h.stream in (sys.stdout, sys.stderr)
    ),
    sys.stderr,
)


def say(text):
    print(text, file=SAY, flush=True)


if workflow.exec_mode == ExecMode.DEFAULT:
    for _line in empty_selected(config, ARTEFACT_RUNS):
        say(f"note: {_line}")
    CONSOLE = Console(
        RUNS,
        RES,
        planned_runs,
        dryrun=lambda: workflow.dryrun,
        plan=lambda: overview(config, ARTEFACT_RUNS, config_sources()),
        dependents=dependent_runs,
        out=SAY,
    )
    logger.addFilter(CONSOLE)


onstart:
    if workflow.exec_mode == ExecMode.DEFAULT:
        found = blockers(config, planned_jobs())
        if found:
            raise WorkflowError(message(found))
        try:  # held until Snakemake exits: one workflow at a time writes these folders
            hold_lock(RES, "the results folder")
            hold_lock(DATA, "the data folder")
        except DraError as e:
            raise WorkflowError(str(e)) from None
        fetched = downloads(config, planned_jobs())
        if fetched:
            say(downloads_message(fetched))


onsuccess:
    if workflow.exec_mode == ExecMode.DEFAULT:
        say("\n".join(closing()))


onerror:
    if workflow.exec_mode == ExecMode.DEFAULT:
        finish_whole_runs()
        say("\n".join(closing()))
