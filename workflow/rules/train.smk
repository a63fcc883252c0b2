# One training run per (variant, dataset, subset, setting, shots, seed).


def train_inputs(wc):
    spec = spec_of(wc)
    size = spec["image_size"]
    inputs = {
        "split": f"{RES}/splits/{wc.dataset}/{wc.subset}/{wc.setting}/seed{wc.seed}.json",
        "manifest": manifest(wc.dataset, wc.subset),
        "cache": cache(wc.dataset, wc.subset, size),
        "code": code("dra.commands.train", f"dra.methods.{spec['method']}"),
    }
    inputs["external"] = [cache(d, s, size) for d, s in external_subsets(config, spec)]
    return inputs


rule train:
    input:
        unpack(train_inputs),
    output:
        scores=f"{RES}/runs/{{variant}}/{{dataset}}/{{subset}}/{{setting}}/{{shots}}shot/seed{{seed}}/scores.csv",
        metrics=f"{RES}/runs/{{variant}}/{{dataset}}/{{subset}}/{{setting}}/{{shots}}shot/seed{{seed}}/metrics.json",
    params:
        spec=lambda wc: json.dumps(spec_of(wc), sort_keys=True),
        out=lambda wc, output: str(Path(output.scores).parent),
        external=lambda wc, input: " ".join(f"--external {p}" for p in input.external),
        device=config.get("device", "auto"),
        checkpoint_every=config.get("checkpoint_every", 100),
    threads: config.get("train_threads", 1)
    resources:
        mem_mb=8000,
        runtime=120,
    log:
        f"{RES}/logs/train/{{variant}}/{{dataset}}/{{subset}}/{{setting}}/{{shots}}shot/seed{{seed}}.log",
    benchmark:
        f"{RES}/benchmarks/train/{{variant}}/{{dataset}}/{{subset}}/{{setting}}/{{shots}}shot/seed{{seed}}.tsv"
    conda:
        "../envs/train.yaml"
    shell:
        "OMP_NUM_THREADS={threads} python -m dra train --spec {params.spec:q} --split {input.split} "
        "--manifest {input.manifest} --cache {input.cache} {params.external} --out {params.out} "
        "--device {params.device} --checkpoint-every {params.checkpoint_every} > {log} 2>&1"
