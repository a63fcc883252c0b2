# Runs -> runs.csv -> one table (CSV, Markdown, LaTeX, HTML) per paper table and one figure per
# paper figure -> the reproduction table and the summary the report opens with. Each consumer reads
# exactly the run files it is handed (never a folder glob). With `partial: true` in the config,
# tables and figures show the runs done so far and start none.


rule layout:
    output:
        at_results(runkey.LAYOUT),
    log:
        at_results(runkey.LAYOUT_LOG),
    wildcard_constraints:
        name=alternation(TABLES + PLOTS + ["summary"]),
    conda:
        "../envs/report.yaml"
    params:
        layout=artefact_layout,
    shell:
        "python -m dra layout --json {params.layout:q} --out {output:q} > {log:q} 2>&1"


rule collect:
    input:
        metrics=existing(metrics_files(RUNS)),
        code=code("dra.commands.collect"),
    output:
        at_results(runkey.RUNS_CSV),
    log:
        at_results(runkey.COLLECT_LOG),
    conda:
        "../envs/report.yaml"
    shell:
        "python -m dra collect {input.metrics:q} --out {output:q} > {log:q} 2>&1"


rule table:
    input:
        metrics=lambda wc: existing(metrics_files(ARTEFACT_RUNS[wc.table])),
        layout=layout_file("{table}"),
        paper="config/paper_results.csv",
        code=code("dra.commands.table"),
    output:
        csv=table_pattern("csv"),
        md=table_pattern("md"),
        tex=table_pattern("tex"),
        html=report(
            table_pattern("html"),
            category="Tables",
            caption="../report/table.rst",
        ),
    log:
        at_results(runkey.TABLE_LOG),
    wildcard_constraints:
        table=alternation(TABLES),
    conda:
        "../envs/report.yaml"
    params:
        prefix=lambda wc, output: output.csv[: -len(".csv")],
        caption=lambda wc: artefact(config, wc.table).get("caption", wc.table),
    shell:
        "python -m dra table {wildcards.table} --layout @{input.layout:q} --paper {input.paper:q} "
        "--out {params.prefix:q} {input.metrics:q} > {log:q} 2>&1"


rule reproduction:
    input:
        tables=[table_file(t, "csv") for t in TABLES],
        code=code("dra.commands.reproduction"),
    output:
        csv=table_file("reproduction", "csv"),
        md=table_file("reproduction", "md"),
    log:
        at_results(runkey.REPRODUCTION_LOG),
    conda:
        "../envs/report.yaml"
    params:
        prefix=lambda wc, output: output.csv[: -len(".csv")],
    shell:
        "python -m dra reproduction {input.tables:q} --out {params.prefix:q} > {log:q} 2>&1"


rule plot:
    input:
        metrics=lambda wc: existing(metrics_files(ARTEFACT_RUNS[wc.plot])),
        maps=lambda wc: heatmap_inputs(wc.plot),
        layout=layout_file("{plot}"),
        code=code("dra.commands.plot"),
    output:
        png=report(
            plot_pattern("png"),
            category="Figures",
            caption="../report/plot.rst",
        ),
        pdf=plot_pattern("pdf"),
    log:
        at_results(runkey.PLOT_LOG),
    wildcard_constraints:
        plot=alternation(PLOTS),
    conda:
        "../envs/report.yaml"
    params:
        prefix=lambda wc, output: output.png[: -len(".png")],
        caption=lambda wc: artefact(config, wc.plot).get("caption", wc.plot),
        maps=lambda wc, input: " ".join(f"--maps {q(p)}" for p in input.maps),
    shell:
        "python -m dra plot {wildcards.plot} --layout @{input.layout:q} --out {params.prefix:q} "
        "{params.maps} {input.metrics:q} > {log:q} 2>&1"


rule summary:
    input:
        runs=at_results(runkey.RUNS_CSV),
        layout=layout_file("summary"),
        tables=[table_file(t, "csv") for t in TABLES],
        code=code("dra.commands.summary"),
    output:
        md=summary_file("md"),
        rst=summary_file("rst"),
    log:
        at_results(runkey.SUMMARY_LOG),
    conda:
        "../envs/report.yaml"
    params:
        prefix=lambda wc, output: output.md[: -len(".md")],
    shell:
        "python -m dra summary --runs {input.runs:q} --plan {input.layout:q} --out {params.prefix:q} "
        "{input.tables:q} > {log:q} 2>&1"
