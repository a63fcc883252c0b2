# One split per (dataset, subset, setting, seed), read by every method.


rule split:
    input:
        manifest=at_data(runkey.MANIFEST),
        code=code("dra.commands.split"),
    output:
        at_results(runkey.SPLIT),
    log:
        at_results(runkey.SPLIT_LOG),
    wildcard_constraints:
        setting=runkey.SPLIT_SETTING_PATTERN,
    conda:
        "../envs/train.yaml"
    shell:
        "python -m dra split --manifest {input.manifest:q} --setting {wildcards.setting:q} --seed {wildcards.seed:q} "
        "--dataset {wildcards.dataset:q} --subset {wildcards.subset:q} --out {output:q} > {log:q} 2>&1"
