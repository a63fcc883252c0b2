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
        train_resource("group")
    conda:
        "../envs/train.yaml"
    threads: train_resource("threads")
    resources:
        mem_mb=train_resource("mem_mb", scale_with_attempt=True),
        runtime=train_resource("runtime", scale_with_attempt=True),
        gpu=train_resource("gpu"),
    params:
        spec=lambda wc: json.dumps(spec_of(wc), sort_keys=True),
        out=lambda wc, output: str(Path(output.scores).parent),
        external=lambda wc, input: " ".join(f"--external {p}" for p in input.external),
        target=lambda wc, input: target_args(input),
        device=config.get("device", "auto"),
        checkpoint_every=config.get("checkpoint_every", 100),
    shell:
        "OMP_NUM_THREADS={threads} python -m dra train --spec {params.spec:q} --split {input.split} "
        "--manifest {input.manifest} --cache {input.cache} {params.external} {params.target} --out {params.out} "
        "--device {params.device} --checkpoint-every {params.checkpoint_every} > {log} 2>&1"
