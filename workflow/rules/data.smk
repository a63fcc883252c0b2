# Raw data -> uniform layout + manifest -> decoded image cache.


rule synth:
    output:
        directory(at_data(runkey.GENERATED)),
    log:
        at_data(runkey.SYNTH_LOG),
    wildcard_constraints:
        dataset=alternation(SYNTH),
    conda:
        "../envs/train.yaml"
    params:
        seed=lambda wc: config["datasets"][wc.dataset].get("seed", 0),
        size=lambda wc: config["datasets"][wc.dataset].get("raw_size", 64),
    shell:
        "python -m dra synth --out {output:q} --seed {params.seed:q} --size {params.size:q} > {log:q} 2>&1"


rule prepare:
    input:
        raw=lambda wc: raw_input(wc.dataset),
        code=lambda wc: code("dra.commands.prepare", dataset_code(wc.dataset)),
    output:
        at_data(runkey.MANIFEST),
    log:
        at_data(runkey.PREPARE_LOG),
    conda:
        "../envs/train.yaml"
    params:
        out=lambda wc, output: str(Path(output[0]).parent.parent),
        split_seed=config["split_seed"],
        layout=lambda wc: layout_arg(wc.dataset),
        # a function of `input` is no params rerun trigger in Snakemake: switching the count check never
        # reruns (and, when the check then fails, deletes) a prepared subset
        check=lambda wc, input: "" if check_counts(wc.dataset) else "--no-check-counts",
    shell:
        "python -m dra prepare {wildcards.dataset:q} {params.layout} --raw {input.raw:q} --out {params.out:q} "
        "--subset {wildcards.subset:q} --split-seed {params.split_seed:q} {params.check} > {log:q} 2>&1"


rule cache:
    input:
        manifest=at_data(runkey.MANIFEST),
        code=code("dra.commands.cache"),
    output:
        npy=at_data(runkey.CACHE),
        masks=at_data(runkey.CACHE_MASKS),
        meta=at_data(runkey.CACHE_META),
    log:
        at_data(runkey.CACHE_LOG),
    conda:
        "../envs/train.yaml"
    shell:
        "python -m dra cache --manifest {input.manifest:q} --size {wildcards.size:q} --out {output.npy:q} > {log:q} 2>&1"
