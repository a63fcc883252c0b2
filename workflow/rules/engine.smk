# Planning speed: measures that reach into Snakemake's own machinery (pinned 9.27.1), each with the
# measurement that justifies it, on the paper protocol's dry run (`make dag`: 3,486 jobs, 3,207
# training runs; this machine planned it in 12.3-13.3 s without these measures, 8.2-10.8 s with them).
import gc
import inspect

from snakemake.common import overwrite_function_params
from snakemake.resources import Resource


def signature_once(func):
    """Store a function's signature for Snakemake (its own hook), which otherwise inspects it again at
    every call, several per job; for the 3,207 training jobs of the paper protocol that is 2 s.
    """
    overwrite_function_params(func, inspect.signature(func).parameters)
    return func


# The same for Snakemake's own Resource.evaluate, whose signature it inspects at every resource of
# every job (33,000 times for the paper protocol: about 1 s of a dry run). Its bound methods see the
# function's attribute; it takes **kwargs, so Snakemake passes it the same arguments either way.
signature_once(Resource.evaluate)


def group_of(group):
    """The group a run joins: `group` where the profile bundles that group (group-components), else
    none. Snakemake ignores groups in local runs but forms them in dry runs; unbundled, each is a
    group of one job: the same to run, but 3,207 of them cost more than 1 s of the paper protocol's
    dry run. (`--groups train=...` on the command line still wins.) Inside a cluster job (remote
    mode, which is not told the group-components) the group stays: there it makes the job's members
    run in that one Snakemake instead of one srun each.
    """
    if workflow.remote_exec or group in workflow.group_settings.group_components:
        return group
    return None


def freeze_parsed_objects():
    """What parsing made (modules, config, rules) lives as long as Snakemake: keep it out of the
    garbage collector's full passes, which otherwise rescan it each time the DAG of thousands of
    jobs grows by a quarter (10 full collections took 1.26 s of the dry run, 0.47 s frozen).
    """
    gc.freeze()
