# One split per (dataset, subset, setting, seed), read by every method.


rule split:
    input:
        manifest=f"{DATA}/prepared/{{dataset}}/{{subset}}/manifest.csv",
        code=code("dra.commands.split"),
    output:
        f"{RES}/splits/{{dataset}}/{{subset}}/{{setting}}/seed{{seed}}.json",
    log:
        f"{RES}/logs/split/{{dataset}}/{{subset}}/{{setting}}/seed{{seed}}.log",
    wildcard_constraints:
        setting=r"general|hard-[^/]+",
    conda:
        "../envs/train.yaml"
    shell:
        "python -m dra split --manifest {input.manifest} --setting {wildcards.setting} --seed {wildcards.seed} "
        "--dataset {wildcards.dataset} --subset {wildcards.subset} --out {output} > {log} 2>&1"
