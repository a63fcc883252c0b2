"""`python -m dra bench`: training images/s and peak memory per method, real data path against the
model alone, plus a short run's wall time, on generated data (no dataset needed). See dra.run.bench."""

from pathlib import Path

from dra.errors import DraError
from dra.plan.methods import BASED, METHODS, STANDALONE


def method_list(values: list[str]) -> list[str]:
    names = [m for v in values for m in v.split(",") if m]
    unknown = [m for m in names if m not in METHODS]
    if unknown:
        raise DraError(f"--methods: unknown {unknown}; expected some of {list(STANDALONE)}")
    based = [m for m in names if m in BASED]
    if based:
        raise DraError(f"--methods: {based} build on another run's trained model; the benchmark measures the "
                       f"methods that train from a start of their own: {list(STANDALONE)}")
    return names


def configure(p):
    p.add_argument("--methods", nargs="+", default=list(STANDALONE),
                   help=f"methods to measure, space- or comma-separated (default: all of {','.join(STANDALONE)})")
    p.add_argument("--size", type=int, default=224, help="image side in pixels (default 224)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--amp", choices=["auto", "bf16", "off"], default="auto", help="auto: bf16 on GPU, off on CPU")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps first (default 1)")
    p.add_argument("--steps", type=int, default=3, help="timed steps per mode (default 3)")
    p.add_argument("--run-iterations", type=int, default=3,
                   help="iterations of the short end-to-end run per method (0: no run; default 3)")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's own choice)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", type=Path, help="where the temporary generated data goes (default: the system's)")
    p.add_argument("--out", type=Path, help="write the table as CSV here")


def run(args):
    methods = method_list(args.methods)
    if args.size < 32:
        raise DraError(f"--size {args.size}: at least 32 px (the trunk downsamples by 32)")
    if args.steps < 1 or args.warmup < 0 or args.run_iterations < 0:
        raise DraError("--steps must be at least 1, --warmup and --run-iterations at least 0")
    import torch

    from dra.run.bench import bench, format_table
    from dra.fsutil import atomic_path

    if args.threads:
        torch.set_num_threads(args.threads)
    df = bench(methods, args.size, args.device, args.amp, args.warmup, args.steps, args.run_iterations,
               args.seed, args.workdir)
    print(format_table(df))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(args.out) as tmp:
            df.to_csv(tmp, index=False, float_format="%.6g")
        print(f"wrote {args.out}")
