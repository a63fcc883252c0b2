from pathlib import Path

from dra.data.cache import build_cache


def configure(p):
    p.add_argument("--manifest", type=Path, required=True)
    p.add_argument("--size", type=int, required=True, help="side in pixels (bilinear, aspect not kept)")
    p.add_argument("--out", type=Path, required=True, help=".npy file; a .json sidecar is written beside it")


def run(args):
    build_cache(args.manifest, args.size, args.out)
    print(f"wrote {args.out}")
