"""AHL's episode-importance model psi: a BiLSTM over each query sample's last K epochs of the T
episode models' scores, whose forecast error per episode gives the episode weights w = softmax(-r)
(AHL's Eq. 6-7), trained each epoch on the episodes' query sets."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Psi(nn.Module):
    """The episode-importance model: a BiLSTM (input = hidden = T) over a sample's K-epoch history of
    the T models' scores, zero initial states (gap 8), then ReLU and Linear(2T -> T) on the last step."""

    def __init__(self, episodes: int, layers: int, dropout: float, gen: torch.Generator):
        super().__init__()
        self.lstm = nn.LSTM(episodes, episodes, num_layers=layers, dropout=dropout if layers > 1 else 0.0,
                            bidirectional=True, batch_first=True)
        self.fc = nn.Linear(2 * episodes, episodes)
        # PyTorch's default initialisation, drawn from the run's generator
        with torch.no_grad():
            k = 1.0 / episodes ** 0.5
            for p in self.lstm.parameters():
                p.uniform_(-k, k, generator=gen)
            k = 1.0 / (2 * episodes) ** 0.5
            for p in self.fc.parameters():
                p.uniform_(-k, k, generator=gen)

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        """history: n x K x T -> n x T."""
        y, _ = self.lstm(history)
        return self.fc(F.relu(y[:, -1]))


class EpisodeWeighting:
    """The part of AHL that owns psi, its optimiser and the score history it reads."""

    def make_psi(self, episodes: int) -> None:
        p = self.params
        self.psi = Psi(episodes, p["psi_layers"], p["psi_dropout"], self.gen)
        if hasattr(self, "trunk"):
            self.psi.to(next(self.trunk.parameters()).device)
        self.psi_opt = torch.optim.Adam(self.psi.parameters(), lr=p["psi_lr"], weight_decay=p["psi_weight_decay"])

    def no_autocast(self):
        return torch.autocast(self.device.type, enabled=False)

    def history_tensor(self) -> torch.Tensor:
        """D x K x T: each sample's last K epochs of the T models' scores, oldest first."""
        return torch.stack(self.history, 1)

    def episode_weights(self) -> torch.Tensor:
        """w = softmax(-r): r_i the c-weighted (weights summing to 1 over D'_i) squared error between
        psi's forecast of model i's scores (from the last K epochs) and the 0/1 labels (Eq. 6-7)."""
        with self.no_autocast(), torch.no_grad():
            self.psi.eval()
            pred = self.psi(self.history_tensor().float())
            c = self.d_c[:, None] * self.d_keep.float()  # D x T
            c = c / c.sum(0, keepdim=True).clamp_min(1e-12)
            r = (c * (pred - self.d_labels[:, None]) ** 2).sum(0)
            w = torch.softmax(-r, 0)
        self.record = {"pred": pred, "r": r, "w": w, "epoch": self.epoch_index}
        return w

    def train_psi(self, scores: torch.Tensor) -> None:
        """One Adam step per episode: psi reads the query set's K previous epochs, its target the
        current scores (MSE)."""
        hist = self.history_tensor().float()
        with self.no_autocast():
            self.psi.train()
            for members in self.d_members:
                loss = F.mse_loss(self.psi(hist[members]), scores[members].float())
                self.psi_opt.zero_grad(set_to_none=True)
                loss.backward()
                self.psi_opt.step()
            self.psi_opt.zero_grad(set_to_none=True)  # none of psi's gradients reach the run's clip
