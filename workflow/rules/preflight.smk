# Before any job starts: everything the DAG's jobs need that only a person (or an online machine)
# can provide, listed once, and nothing is run (dra.plan.preflight). When the workflow ends: where the
# tables and the report are, and how many of the selected runs are done, failed or missing.
from dra.plan.lock import hold_lock
from dra.plan.preflight import blockers, message


def planned_jobs():
    return [
        (job.rule.name, dict(job.wildcards.items()))
        for job in workflow.dag.needrun_jobs()
    ]


def run_counts():
    """(done, failed, missing) of the selected runs: failed ones have a training log but no metrics."""
    done = failed = 0
    for r in RUNS:
        if Path(runkey.run_file(r, RES, "metrics")).is_file():
            done += 1
        elif Path(at_results(runkey.RUN_LOG).format(**r.words())).is_file():
            failed += 1
    return done, failed, len(RUNS) - done - failed


def closing_lines():
    done, failed, missing = run_counts()
    lines = [
        f"runs: {done} done, {failed} failed (see their logs under {RES}/logs/train/), {missing} not run, "
        f"of the {len(RUNS)} the configuration selects"
    ]
    if Path(f"{RES}/tables").is_dir():
        lines.append(
            f"tables: {RES}/tables/ (CSV, Markdown, LaTeX, HTML); figures: {RES}/plots/"
        )
    lines.append(
        f"report: snakemake --report {RES}/report.html (with the same --configfile/--config)"
    )
    return lines


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


onsuccess:
    if workflow.exec_mode == ExecMode.DEFAULT:
        print("\n".join(closing_lines()), file=sys.stderr)


onerror:
    if workflow.exec_mode == ExecMode.DEFAULT:
        print("\n".join(closing_lines()), file=sys.stderr)
