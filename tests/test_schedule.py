import torch

from dra.run.schedule import Schedule


def lrs(at: str, epochs: int) -> list[float]:
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=2e-4)
    sched = Schedule(opt, 10, 0.1, at)
    out = []
    for _ in range(epochs):
        sched.epoch_start()
        out.append(sched.lr())
        opt.step()
        sched.epoch_end()
    return out


def test_dra_steps_at_epoch_start():
    got = lrs("start", 30)
    expected = [2e-4] * 9 + [2e-5] * 10 + [2e-6] * 10 + [2e-7]
    assert len(got) == 30
    assert all(abs(g - e) < 1e-12 for g, e in zip(got, expected))


def test_devnet_steps_at_epoch_end():
    got = lrs("end", 50)
    expected = [2e-4 * 0.1 ** (e // 10) for e in range(50)]
    assert all(abs(g - e) < 1e-15 for g, e in zip(got, expected))
