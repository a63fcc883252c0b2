"""One training run: its inputs verified and loaded into tensors and state dicts (`inputs`), the one
training loop every method uses (`trainer`), checkpoints and RNG state (`checkpoint`), what a run
writes (`outputs`), the maps stage (`maps`); `train` only orchestrates."""
