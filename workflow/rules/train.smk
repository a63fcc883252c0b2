# One training run per (variant, dataset, subset, setting, shots, seed): dra.plan.runkey's run folder.
# Runs of a variant whose trained model a later step reads (the base of an AHL variant, a variant
# whose anomaly maps a figure draws) keep it as a temporary output: Snakemake deletes it once the
# last step that needs it is done, so thousands of runs never each keep a 45 MB model.


rule train:
    input:
        unpack(train_inputs),
    output:
        **RUN_OUT,
    log:
        at_results(runkey.RUN_LOG),
    benchmark:
        at_results(runkey.RUN_BENCHMARK)
    wildcard_constraints:
        variant=alternation(set(config["variants"]) - set(KEEP_MODEL)),
    group:
        train_group
    conda:
        "../envs/train.yaml"
    threads: train_resource("threads")
    resources:
        mem_mb=train_resource("mem_mb", scale_with_attempt=True),
        runtime=train_resource("runtime", scale_with_attempt=True),
        gpu=train_resource("gpu"),
    params:
        spec=train_spec,
        code=train_code,
        args=train_args,
        device=config.get("device", "auto"),
        checkpoint_every=config.get("checkpoint_every", 100),
    shell:
        "OMP_NUM_THREADS={threads:q} python -m dra train --spec {params.spec:q} --split {input.split:q} "
        "--manifest {input.manifest:q} --cache {input.cache:q} {params.args} "
        "--device {params.device:q} --checkpoint-every {params.checkpoint_every:q} > {log:q} 2>&1"


# (defined only where a selected step reads a model: Snakemake matches every rule against each file)
if KEEP_MODEL:

    use rule train as train_keep_model with:
        output:
            **RUN_OUT,
            model=temp(at_results(runkey.RUN_MODEL)),
        wildcard_constraints:
            variant=alternation(KEEP_MODEL),


rule maps:
    input:
        unpack(maps_inputs),
        code=code("dra.commands.maps"),
    output:
        at_results(runkey.MAPS),
    log:
        at_results(runkey.MAPS_LOG),
    wildcard_constraints:
        variant=alternation(KEEP_MODEL),
    conda:
        "../envs/train.yaml"
    params:
        spec=lambda wc: spec_json(**wc),
        images=lambda wc: heatmap_images(),
        external=lambda wc, input: " ".join(
            f"--external {q(p)}" for p in input.external
        ),
        device=config.get("device", "auto"),
    shell:
        "python -m dra maps --spec {params.spec:q} --model {input.model:q} --split {input.split:q} "
        "--manifest {input.manifest:q} --cache {input.cache:q} {params.external} --images {params.images:q} "
        "--device {params.device:q} --out {output:q} > {log:q} 2>&1"
