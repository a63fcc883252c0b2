"""External image pools: datasets whose images some runs draw as pseudo anomalies, outliers or
textures, never as a run's own data. One owner for which datasets they are, which method
parameters may name one, and what a user writes to do without each.

The planner resolves a run's pool into its spec (`external`: the parameter, the source it names and
the dataset whose caches form the pool, dra.plan.config.external_source); the run checks that it got
that pool (dra.run.inputs); a method only ever sees `RunData.external`, a pool of images."""

from __future__ import annotations

# datasets a parameter may name as a source of external images -> the parameters that may name it
POOLS = {"mvtecad": ("pseudo", "outliers"), "lag": ("pseudo", "outliers"), "dtd": ("texture_source",)}

# parameter -> (what its images are for, how to do without an external pool)
ROLES = {
    "pseudo": ("pseudo anomalies",
               "set `pseudo_source: cutmix` in the dataset's config to make in-image pseudo anomalies instead"),
    "outliers": ("outliers",
                 "set `outlier_source: mvtecad` in the dataset's config to use MVTec AD images as outliers instead "
                 "(the alternative for DRA's pseudo anomalies is `pseudo_source: cutmix`)"),
    "texture_source": ("textures of Perlin-mask pseudo anomalies",
                       "set `texture_source: synthetic` for the AHL variants (config `methods:`) to blend in "
                       "generated noise textures instead"),
}

# pools that no rule can fetch: what a person does
BY_REQUEST = {
    "lag": "LAG (the glaucoma fundus database) is given out only on request by its authors: place their archive "
           "by hand as <data>/raw/lag/LAG.zip (`python -m dra download lag --out data/raw/lag` says so too) and let "
           "the workflow build its cache",
}


def without(param: str, source: str) -> str:
    """How a run whose `param` names `source` does without that pool: the parameter's own
    alternative where it avoids the source, and in every case a pool the user has under the source's
    name (a dataset's `external:` map, as config/studies/elpv-cpu.yaml does for MVTec AD)."""
    alternative = ROLES[param][1]
    mapped = (f"map {source} to a dataset you have in the dataset's config (`external: {{{source}: <dataset>}}`)")
    if param == "outliers" and source == "mvtecad":  # outlier_source: mvtecad is this source itself
        return mapped
    return f"{alternative}; or {mapped}"


def named_source(params: dict) -> tuple[str, str] | None:
    """(parameter, source) of the first parameter that names an external pool, if any."""
    for key in ROLES:
        if params.get(key) in POOLS:
            return key, params[key]
    return None


def missing_pool_message(external: dict) -> str:
    """What a run whose spec names a pool says when it got none."""
    role, alternative = ROLES[external["param"]]
    source = external["source"]
    by_hand = f" {BY_REQUEST[source]}." if source in BY_REQUEST else ""
    return (f"{external['param']} {source!r}: this run draws its {role} from the external pool "
            f"{external['pool']!r}, but got none (no --external cache).{by_hand} Or {alternative}.")
