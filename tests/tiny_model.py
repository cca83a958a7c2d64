"""A tiny U-Net trained in seconds on synthetic touching cells, for prediction tests.

The trainer is tested elsewhere; this is a deliberately plain PyTorch loop: a UNet with
8 base channels and 3 levels, cross-entropy on the touching-cells target with separation
gaps, Adam, a few dozen steps on random crops. Good enough to segment the synthetic cells,
so tests can check real behaviour (seams, instances) rather than random-network noise.
"""

from __future__ import annotations

import functools

import numpy as np

from napari_unet import separate_touching, touching_cells
from napari_unet.core.images.normalize import normalize

GAP = 2


def separated_target(labels: np.ndarray, gap: int = GAP) -> np.ndarray:
    """Foreground target with a background gap between touching cells."""
    return (np.asarray(separate_touching(labels, gap=gap)) > 0).astype(np.int64)


@functools.lru_cache(maxsize=4)  # one training per session, shared by all test files
def train_tiny(padding: str = "same", steps: int = 80, seed: int = 0, base_channels: int = 8):
    """Train a tiny UNet; return ``(model, metadata)`` like ``load_model`` does."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # shared 2-core machines: OpenMP spin-waiting costs more than it gains
    try:
        return _train(padding, steps, seed, base_channels)
    finally:
        torch.set_num_threads(threads)


def _train(padding: str, steps: int, seed: int, base_channels: int):
    import torch

    from napari_unet.core.models import UNet

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    image, labels = touching_cells((256, 256), n_cells=60, seed=seed)
    x_all = normalize(image)
    y_all = separated_target(labels)
    model = UNet(1, 2, base_channels=base_channels, depth=3, padding=padding)
    geometry = model.geometry
    tile = geometry.legal_sizes(96, 140)[0]
    out = geometry.output_size(tile)
    shift = (tile - out) // 2
    x_pad = np.pad(x_all, shift, mode="reflect")
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        xs, ys = [], []
        for _ in range(4):
            r, c = rng.integers(0, 256 - out, 2)
            xs.append(x_pad[r : r + tile, c : c + tile])
            ys.append(y_all[r : r + out, c : c + out])
        x = torch.from_numpy(np.stack(xs)[:, None].astype(np.float32))
        y = torch.from_numpy(np.stack(ys))
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    metadata = {
        "normalization": {"method": "percentile", "low": 1.0, "high": 99.8},
        "class_names": ["background", "cell"],
        "separation_gap": GAP,
        "final_loss": float(loss.detach()),
    }
    return model, metadata
