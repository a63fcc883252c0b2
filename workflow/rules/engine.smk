# Planning speed: measures that reach into Snakemake's own machinery (pinned 9.27.1), each saying
# which of Snakemake's per-job costs it removes; `make dag` prints the seconds the paper protocol's
# dry run takes.
import gc
import inspect

from snakemake.common import overwrite_function_params
from snakemake.resources import Resource


def signature_once(func):
    """Store a function's signature for Snakemake (its own hook), which otherwise inspects it again at
    every call, several times per job of a rule with thousands of jobs.
    """
    overwrite_function_params(func, inspect.signature(func).parameters)
    return func


# The same for Snakemake's own Resource.evaluate, whose signature it inspects at every resource of
# every job. Its bound methods see the function's attribute; it takes **kwargs, so Snakemake passes it
# the same arguments either way.
signature_once(Resource.evaluate)


def group_of(group):
    """The group a run joins: `group` where the profile bundles that group (group-components), else
    none. Snakemake ignores groups in local runs but forms them in dry runs; unbundled, each is a
    group of one job: the same to run, but thousands of them slow the paper protocol's dry run. (`--groups train=...` on the command line still wins.) Inside a cluster job (remote
    mode, which is not told the group-components) the group stays: there it makes the job's members
    run in that one Snakemake instead of one srun each.
    """
    if workflow.remote_exec or group in workflow.group_settings.group_components:
        return group
    return None


def freeze_parsed_objects():
    """What parsing made (modules, config, rules) lives as long as Snakemake: keep it out of the
    garbage collector's full passes, which otherwise rescan it each time the DAG of thousands of
    jobs grows by a quarter.
    """
    gc.freeze()
