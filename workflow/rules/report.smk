# Runs -> runs.csv -> one table (CSV, Markdown, LaTeX) per paper table -> the reproduction table.


rule collect:
    input:
        metrics=metrics_files(all_runs(config)),
        code=code("dra.commands.collect"),
    output:
        f"{RES}/runs.csv",
    log:
        f"{RES}/logs/collect.log",
    conda:
        "../envs/report.yaml"
    params:
        runs=lambda wc, output: str(Path(output[0]).parent / "runs"),
    shell:
        "python -m dra collect --runs {params.runs} --out {output} > {log} 2>&1"


rule table:
    input:
        metrics=lambda wc: metrics_files(table_runs(config, wc.table)),
        paper="config/paper_results.csv",
        code=code("dra.commands.table"),
    output:
        csv=report(
            f"{RES}/tables/{{table}}.csv",
            category="Tables",
            caption="../report/table.rst",
        ),
        md=f"{RES}/tables/{{table}}.md",
        tex=f"{RES}/tables/{{table}}.tex",
    log:
        f"{RES}/logs/table/{{table}}.log",
    conda:
        "../envs/report.yaml"
    params:
        layout=lambda wc: json.dumps(table_layout(config, wc.table), sort_keys=True),
        prefix=lambda wc, output: output.csv[: -len(".csv")],
        results=lambda wc, output: str(Path(output.csv).parent.parent),
    shell:
        "python -m dra table {wildcards.table} --runs {params.results} --paper {input.paper} "
        "--layout {params.layout:q} --out {params.prefix} > {log} 2>&1"


rule reproduction:
    input:
        tables=expand(f"{RES}/tables/{{table}}.csv", table=TABLES),
        code=code("dra.commands.reproduction"),
    output:
        csv=report(
            f"{RES}/tables/reproduction.csv",
            category="Tables",
            caption="../report/reproduction.rst",
        ),
        md=f"{RES}/tables/reproduction.md",
    log:
        f"{RES}/logs/reproduction.log",
    conda:
        "../envs/report.yaml"
    params:
        prefix=lambda wc, output: output.csv[: -len(".csv")],
    shell:
        "python -m dra reproduction {input.tables} --out {params.prefix} > {log} 2>&1"


rule plot:
    input:
        metrics=lambda wc: metrics_files(table_runs(config, wc.plot)),
        code=code("dra.commands.plot"),
    output:
        png=report(
            f"{RES}/plots/{{plot}}.png",
            category="Figures",
            caption="../report/plot.rst",
        ),
        pdf=f"{RES}/plots/{{plot}}.pdf",
    log:
        f"{RES}/logs/plot/{{plot}}.log",
    conda:
        "../envs/report.yaml"
    params:
        layout=lambda wc: json.dumps(table_layout(config, wc.plot), sort_keys=True),
        prefix=lambda wc, output: output.png[: -len(".png")],
        results=lambda wc, output: str(Path(output.png).parent.parent),
    shell:
        "python -m dra plot {wildcards.plot} --runs {params.results} --layout {params.layout:q} "
        "--out {params.prefix} > {log} 2>&1"
