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


def save_tiny(folder, model, metadata):
    """A :func:`train_tiny` model as the file ``folder/tiny.safetensors`` (its path)."""
    from napari_unet import save_model

    path = folder / "tiny.safetensors"
    return save_model(path, model, normalization=metadata["normalization"], separation_gap=2)


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


def separate_discs(seed: int = 0, size: int = 128, radius: int = 7):
    """Bright, well separated discs on a dark noisy background: ``(image, labels)``.

    Unlike the touching cells, every disc stands alone, so the tiny model of
    :func:`train_tiny` segments them (AP50 1.0) and segments nothing on the inverted image
    (AP50 0.0): a start model that knows the kind of image, and one that does not.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    labels = np.zeros((size, size), np.int32)
    centres = [(cy, cx) for cy in range(16, size, 32) for cx in range(16, size, 32)]
    for k, (cy, cx) in enumerate(centres, 1):
        dy, dx = rng.integers(-3, 4, 2)
        labels[(yy - cy - dy) ** 2 + (xx - cx - dx) ** 2 <= radius**2] = k
    image = (labels > 0) * 0.8 + 0.1 + rng.normal(0, 0.05, labels.shape)
    return image.astype(np.float32), labels
