from dra.data.synth import generate


def configure(p):
    p.add_argument("--out", required=True, help="folder to create (MVTec layout, one folder per subset)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=64, help="image side in pixels")


def run(args):
    out = generate(args.out, seed=args.seed, size=args.size)
    print(f"wrote {out}")
