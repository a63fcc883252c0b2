# One training run per (variant, dataset, subset, setting, shots, seed).


rule train:
    input:
        unpack(train_inputs),
    output:
        scores=f"{RES}/runs/{{variant}}/{{dataset}}/{{subset}}/{{setting}}/{{shots}}shot/seed{{seed}}/scores.csv",
        metrics=f"{RES}/runs/{{variant}}/{{dataset}}/{{subset}}/{{setting}}/{{shots}}shot/seed{{seed}}/metrics.json",
    log:
        f"{RES}/logs/train/{{variant}}/{{dataset}}/{{subset}}/{{setting}}/{{shots}}shot/seed{{seed}}.log",
    benchmark:
        f"{RES}/benchmarks/train/{{variant}}/{{dataset}}/{{subset}}/{{setting}}/{{shots}}shot/seed{{seed}}.tsv"
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
        spec=signature_once(lambda wc: spec_json(**wc)),
        code=train_code,
        args=signature_once(lambda wc, input, output: train_args(input, output)),
        device=config.get("device", "auto"),
        checkpoint_every=config.get("checkpoint_every", 100),
    shell:
        "OMP_NUM_THREADS={threads} python -m dra train --spec {params.spec:q} --split {input.split} "
        "--manifest {input.manifest} --cache {input.cache} {params.args} "
        "--device {params.device} --checkpoint-every {params.checkpoint_every} > {log} 2>&1"
