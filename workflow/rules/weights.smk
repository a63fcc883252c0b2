# Pretrained ImageNet weights (ResNet-18; VGG16 for KDAD's teacher), fetched into torchvision's
# cache ($TORCH_HOME/hub/checkpoints) on the machine Snakemake runs on: on a cluster, the login node,
# since compute nodes are often offline. Run `snakemake weights` once before training with
# `weights: imagenet`; training jobs only read the cache, and fail at start-up naming this command
# when a file is missing. No outputs: it runs whenever asked, and skips files already there.


rule weights:
    log:
        f"{DATA}/logs/weights.log",
    retries: 2
    localrule: True
    conda:
        "../envs/train.yaml"
    shell:
        "python -m dra weights --arch resnet18 --arch vgg16 2>&1 | tee {log}"
