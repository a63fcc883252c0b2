# Pretrained ImageNet weights (ResNet-18; VGG16 for KDAD's teacher), fetched into torchvision's
# cache ($TORCH_HOME/hub/checkpoints) on the machine Snakemake runs on: on a cluster, the login node,
# since compute nodes are often offline. The files are declared inputs of the training runs that
# start from them (`weights: imagenet`), so a missing one is known when the DAG is built; run
# `snakemake --cores 1 weights` once, online (the pre-flight stops any other target until then).


rule weights:
    output:
        [str(imagenet_path(arch)) for arch in sorted(IMAGENET_FILES)],
    log:
        at_data(runkey.WEIGHTS_LOG),
    retries: 2
    localrule: True
    conda:
        "../envs/train.yaml"
    shell:
        "python -m dra weights --arch resnet18 --arch vgg16 2>&1 | tee {log:q}"
