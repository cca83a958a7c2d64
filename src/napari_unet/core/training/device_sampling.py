"""Augmented training crops made by torch on the training device (a GPU not fed by the host).

:class:`DeviceCropSampler` is a drop-in for :class:`~napari_unet.core.training.sampling.CropSampler`
in :class:`~napari_unet.core.training.sampling.BatchPrefetcher`: its batches are torch tensors on
the device. Each pair's image, target, weight map (and regression target) is uploaded once, on
first use; the targets and weight maps are the ones :mod:`~napari_unet.core.training.pairs`
computed and cached. Per batch only a few numbers per crop are drawn on the host, with the
CPU sampler's draws in the CPU sampler's order (:meth:`CropSampler.draw_center`,
:func:`~napari_unet.core.training.augment.draw_geometry` and ``draw_intensity``): the same
crop centres in annotated regions, the same rotations, flips, zooms, elastic lattices and
intensity jitter for the same seed. The device then builds every crop's sampling grid (the
lattice upsampled by the same cubic-spline matrix), reads the image with bicubic, the weight
map with bilinear and the target with nearest interpolation (``grid_sample``; reflection at
the border, as the CPU path's mirror mode) and applies blur, gamma, gain, offset, shading and
noise.

Two differences from the CPU path, both within the augmentation's own randomness: the image is
read with cubic convolution (torch's bicubic) instead of a cubic B-spline, and the Gaussian
noise comes from a torch generator (seeded from the batch's numpy generator).
"""

from __future__ import annotations

import numpy as np

from napari_unet.core.training import augment as aug
from napari_unet.core.training.pairs import TrainPair
from napari_unet.core.training.sampling import CropSampler

__all__ = ["DeviceCropSampler", "as_device_tensor"]


def as_device_tensor(value, device):
    """A batch entry (numpy array or torch tensor) as a tensor on ``device``."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=True)
    return torch.from_numpy(value).to(device, non_blocking=True)


class DeviceCropSampler:
    """Random augmented crops of the training pairs, made on ``device`` (see module doc).

    Parameters
    ----------
    pairs, input_size, output_size, augment, fg_bias
        As :class:`~napari_unet.core.training.sampling.CropSampler`.
    device : str or torch.device
        Where the pairs are kept and the crops made (the training device).
    """

    def __init__(
        self,
        pairs: list[TrainPair],
        input_size: int,
        output_size: int,
        augment: aug.AugmentConfig = aug.NO_AUGMENT,
        fg_bias: float = 0.7,
        device="cpu",
    ) -> None:
        import torch

        self.host = CropSampler(pairs, input_size, output_size, augment, fg_bias)
        self.pairs, self.augment = pairs, augment
        self.input_size, self.output_size = int(input_size), int(output_size)
        self.device = torch.device(device)
        self._stores: dict[int, tuple] = {}
        s = self.input_size
        off = torch.arange(s, dtype=torch.float32) - (s - 1) / 2.0
        u, v = torch.meshgrid(off, off, indexing="ij")
        self._base = torch.stack([u.reshape(-1), v.reshape(-1)]).to(self.device)  # (2, S*S)
        self._spline = None
        if augment.elastic and augment.elastic_std > 0:
            w = aug._upsampling_matrix(s, augment.elastic_grid)
            self._spline = torch.as_tensor(w, dtype=torch.float32, device=self.device)

    def store(self, k: int) -> tuple:
        """Pair ``k`` on the device (uploaded on first use).

        Image ``(1, C, H, W)``, linear ``(1, L, H, W)`` (weights and the regression target),
        nearest ``(1, 2, H, W)``: the target (float, whole class numbers) and where the
        weights are not 0 (the annotated pixels).
        """
        if k not in self._stores:
            import torch

            p, dev = self.pairs[k], self.device
            lin = [p.weights] if p.extra is None else [p.weights, p.extra]

            def up(a):
                return torch.from_numpy(np.ascontiguousarray(a, np.float32))[None].to(dev)

            near = np.stack([p.target, p.weights > 0])
            self._stores[k] = (up(p.image), up(np.stack(lin)), up(near))
        return self._stores[k]

    def draw(self, batch_size: int, rng: np.random.Generator) -> list[tuple]:
        """Host draws of a batch: ``(pair, top_left, Geometry, intensity)`` per crop."""
        crops = []
        for _ in range(batch_size):
            k, cy, cx = self.host.draw_center(rng)
            top = self.host.top_left(cy, cx, rng)
            geo = aug.draw_geometry(self.augment, rng)
            crops.append((k, top, geo, aug.draw_intensity(self.augment, rng)))
        return crops

    def grids(self, crops: list[tuple]):
        """``(B, 2, S, S)`` source rows and columns of the crops (float32, on the device)."""
        import torch

        s, dev = self.input_size, self.device
        half = (s - 1) / 2.0
        mats = np.stack([c[2].matrix() for c in crops]).astype(np.float32)
        shift = np.array([[c[1][0] + half, c[1][1] + half] for c in crops], np.float32)
        mats_t = torch.from_numpy(mats).to(dev)
        pos = torch.einsum("bij,jp->bip", mats_t, self._base).reshape(len(crops), 2, s, s)
        pos = pos + torch.from_numpy(shift).to(dev)[:, :, None, None]
        if self._spline is not None:
            coarse = torch.from_numpy(np.stack([c[2].coarse for c in crops]).astype(np.float32))
            w = self._spline
            pos = pos + torch.einsum("sg,bcgh,th->bcst", w, coarse.to(dev), w)
        return pos

    def batch(self, batch_size: int, rng: np.random.Generator) -> dict:
        """A batch as :meth:`CropSampler.batch`, but torch tensors on the device."""
        import torch

        crops = self.draw(batch_size, rng)
        seed = int(rng.integers(2**62))
        # Crops of one image side by side: each image is read by slices, no index tensors.
        order = sorted(range(batch_size), key=lambda i: crops[i][0])
        crops = [crops[i] for i in order]
        pos = self.grids(crops)
        s, o = self.input_size, self.output_size
        h = (s - o) // 2
        c_in = self.pairs[0].image.shape[0]
        lin_n = 1 if self.pairs[0].extra is None else 2
        image = torch.empty((batch_size, c_in, s, s), device=self.device)
        lin = torch.empty((batch_size, lin_n, o, o), device=self.device)
        target = torch.empty((batch_size, 2, o, o), device=self.device)
        ks = [c[0] for c in crops]
        a = 0
        while a < batch_size:
            b = _run_end(ks, a)
            img_k, lin_k, tgt_k = self.store(ks[a])
            g = _normalised(pos[a:b], img_k.shape[-2:])
            image[a:b] = _read(img_k, g, "bicubic")
            inner = g[:, h : h + o, h : h + o]
            lin[a:b] = _read(lin_k, inner, "bilinear")
            target[a:b] = _read(tgt_k, inner, "nearest")
            a = b
        image = self._intensity(image, [c[3] for c in crops], seed)
        if order != sorted(order):  # back to the order of the draws
            back = torch.from_numpy(np.argsort(order)).to(self.device)
            image, lin, target = image[back], lin[back], target[back]
        batch = {
            "image": image,
            "target": target[:, 0].round().long(),
            # 0 where the target came from an unannotated pixel (as the CPU path)
            "weights": lin[:, 0].clamp_(min=0) * target[:, 1],
        }
        if lin_n == 2:
            batch["extra"] = lin[:, 1].contiguous()
        return batch

    def _intensity(self, image, params: list[tuple], seed: int):
        """Blur, gamma on each crop's own range, gain, offset, shading and noise (as on the CPU).

        ``params``: each crop's :func:`~napari_unet.core.training.augment.draw_intensity`.
        """
        import torch

        a = self.augment
        p = torch.tensor(params, dtype=torch.float32, device=self.device)[:, :, None, None, None]
        gamma, gain, offset, noise, shot, _, rise, angle = p.unbind(1)
        if a.blur > 0:
            image = _blurred(image, [q[5] for q in params])
        if a.gamma > 0:
            lo = image.amin(dim=(1, 2, 3), keepdim=True)
            hi = image.amax(dim=(1, 2, 3), keepdim=True)
            span = hi - lo
            ok = span > 0
            scaled = ((image - lo) / torch.where(ok, span, 1.0)).clamp_(min=0) ** gamma
            image = torch.where(ok, lo + span * scaled, image)
        if a.gain > 0:
            image = image * gain
        if a.offset > 0:
            image = image + offset
        if a.shading > 0:
            h, w = image.shape[-2:]
            rows = (torch.arange(h, device=self.device) + 0.5) / h - 0.5
            cols = (torch.arange(w, device=self.device) + 0.5) / w - 0.5
            plane = torch.sin(angle) * rows[:, None] + torch.cos(angle) * cols[None, :]
            image = image + rise * plane
        gen = torch.Generator(device=self.device).manual_seed(seed)
        if a.shot > 0:
            z = torch.randn(image.shape, generator=gen, device=self.device)
            image = image + shot * image.clamp(min=0).sqrt() * z
        if a.noise > 0:
            z = torch.randn(image.shape, generator=gen, device=self.device)
            image = image + noise * z
        return image.contiguous()


def _blurred(image, sigmas: list[float]):
    """Each ``(C, h, w)`` crop of ``image`` blurred by its own Gaussian sigma (mirror border).

    scipy's ``gaussian_filter`` in torch: a separable kernel cut at 4 sigma, the border
    reflected about its edge pixel (scipy's *mirror*, torch's *reflect*).
    """
    import torch
    import torch.nn.functional as F

    out = []
    for crop, sigma in zip(image, sigmas, strict=True):
        r = min(int(4.0 * sigma + 0.5), min(crop.shape[-2:]) - 1)
        if sigma <= 0 or r <= 0:
            out.append(crop)
            continue
        x = torch.arange(-r, r + 1, dtype=torch.float32, device=image.device)
        k = torch.exp(-0.5 * (x / sigma) ** 2)
        k = k / k.sum()
        c = crop.shape[0]
        y = F.pad(crop[None], (r, r, r, r), mode="reflect")
        y = F.conv2d(y, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
        y = F.conv2d(y, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
        out.append(y[0])
    return torch.stack(out)


def _run_end(keys: list, start: int) -> int:
    """The end of the run of equal ``keys`` that begins at ``start``."""
    end = start + 1
    while end < len(keys) and keys[end] == keys[start]:
        end += 1
    return end


def _normalised(pos, shape):
    """``(n, 2, S, S)`` pixel rows and columns as ``grid_sample``'s ``(n, S, S, 2)`` (x, y)."""
    import torch

    h, w = (max(int(n) - 1, 1) for n in shape)
    return torch.stack([pos[:, 1] * (2.0 / w) - 1.0, pos[:, 0] * (2.0 / h) - 1.0], dim=-1)


def _read(source, grid, mode: str):
    """``source`` (1, C, H, W) read at ``grid`` (n, h, w, 2): ``(n, C, h, w)`` in one call.

    The crops are stacked along the grid's rows, so every crop of one pair is one
    ``grid_sample`` (reflection at the border, corners on pixel centres as scipy's mirror).
    """
    import torch.nn.functional as F

    n, gh, gw, _ = grid.shape
    out = F.grid_sample(
        source, grid.reshape(1, n * gh, gw, 2), mode=mode, padding_mode="reflection",
        align_corners=True,
    )  # fmt: skip
    return out.reshape(source.shape[1], n, gh, gw).transpose(0, 1)
