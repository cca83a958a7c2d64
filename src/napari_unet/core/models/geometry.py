"""Tile geometry of the U-Net family: legal input sizes, output sizes, halos.

Pure Python (no torch): the tiling and prediction code import this module cheaply. All
functions work on one axis; callers apply them to height and width separately.

The rules (Ronneberger et al. 2015, section 2 and figure 2):

* Every 2x2 max-pooling must see an even size, so legal input sizes form an arithmetic
  progression ``min_input_size + k * divisor`` with ``divisor = 2 ** n_pools``.
* With ``"valid"`` (unpadded) convolutions every 3x3 convolution trims one pixel each side,
  so the output is smaller than the input by a constant ``2 * halo`` (572 -> 388 for the
  paper's network, halo 92). Output tiles then abut and input tiles overlap by the halo.
* With ``"same"`` (zero-padded) convolutions the output has the input's size and the input
  size must be a multiple of the divisor. ``halo`` is then a *recommended* overlap for
  tiling: the theoretical receptive-field radius rounded up to a multiple of the divisor.
  With tiles that start on multiples of the divisor, output pixels at least ``halo`` from a
  tile edge are computed from real pixels only and equal a whole-image prediction. (The
  effective receptive field is much smaller; callers may overlap less and blend.)
"""

from __future__ import annotations

from dataclasses import dataclass

from napari_unet.core.errors import InputError

PADDINGS = ("valid", "same")


class IllegalTileSize(InputError):
    """A tile size the network cannot process (odd size at a pooling, or too small)."""


@dataclass(frozen=True)
class TileGeometry:
    """Size arithmetic of a U-Net-like network along one axis.

    Parameters
    ----------
    n_pools : int
        Number of 2x2 poolings (``depth - 1``; 4 in the paper).
    padding : {"valid", "same"}
        Unpadded (paper) or zero-padded convolutions.
    convs_per_level : int
        Convolutions per encoder/decoder level (2 in the paper).
    kernel_size : int
        Convolution kernel size (3 in the paper).
    rf_radius : int, optional
        Receptive-field radius in input pixels, for architectures whose receptive field
        differs from the plain U-Net's (UNet 3+). ``None`` uses the U-Net's radius (see
        :attr:`receptive_radius`).
    """

    n_pools: int
    padding: str
    convs_per_level: int = 2
    kernel_size: int = 3
    rf_radius: int | None = None

    def __post_init__(self) -> None:
        if self.padding not in PADDINGS:
            raise InputError(f"padding must be one of {PADDINGS}, got {self.padding!r}")
        for name in ("n_pools", "convs_per_level", "kernel_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InputError(f"{name} must be a non-negative integer, got {value!r}")
        if self.kernel_size % 2 == 0:
            raise InputError(f"kernel_size must be odd, got {self.kernel_size}")
        if self.rf_radius is not None and (
            not isinstance(self.rf_radius, int) or self.rf_radius < 0
        ):
            raise InputError(f"rf_radius must be a non-negative integer, got {self.rf_radius!r}")

    # -- basic quantities -------------------------------------------------------------
    @property
    def divisor(self) -> int:
        """``2 ** n_pools``: legal input sizes are this far apart."""
        return 2**self.n_pools

    @property
    def _trim(self) -> int:
        """Pixels one convolution block removes along the axis (0 for same padding)."""
        if self.padding == "same":
            return 0
        return self.convs_per_level * (self.kernel_size - 1)

    @property
    def _shrink(self) -> int:
        """``input - output``, the same for every legal input size."""
        r, d = self._trim, self.divisor
        # encoder: r per level before each pool, scaled by 2**level -> r * (d - 1)
        # bottom:  r at scale d -> r * d;  decoder: r per level at scale 2**level -> r * (d - 1)
        return r * (d - 1) + r * d + r * (d - 1)

    @property
    def min_input_size(self) -> int:
        """The smallest legal input size."""
        r, d = self._trim, self.divisor
        bottom = 1  # smallest bottom size whose decoder sizes all stay positive
        while not self._decoder_ok(bottom):
            bottom += 1
        # bottom = x_n - r and x = d * x_n + r * (d - 1)
        return d * (bottom + r) + r * (d - 1)

    @property
    def receptive_radius(self) -> int:
        """Theoretical receptive-field radius in input pixels (worst pixel, worst side).

        ``"valid"``: the halo. ``"same"``: the valid halo plus ``divisor - 1``, because the
        pooling grid is then fixed to the image and a pixel's position within a pooling cell
        shifts its receptive field by up to ``divisor - 1`` (107 for 4 poolings; measured
        exactly in the tests by perturbing real networks).
        """
        if self.rf_radius is not None:
            return self.rf_radius
        r, d = self.convs_per_level * (self.kernel_size - 1), self.divisor
        valid_halo = (r * (d - 1) + r * d + r * (d - 1)) // 2
        return valid_halo if self.padding == "valid" else valid_halo + d - 1

    @property
    def halo(self) -> int:
        """Context each side of an output tile, in input pixels.

        ``"valid"``: exactly ``(input - output) // 2`` (92 for the paper's network).
        ``"same"``: the receptive-field radius rounded up to a multiple of the divisor
        (112 for a 4-pooling U-Net), a conservative overlap for tiling: with tiles that
        start on multiples of the divisor, output pixels at least ``halo`` from a tile edge
        equal those of a whole-image prediction.
        """
        if self.padding == "valid":
            return self._shrink // 2
        d = self.divisor
        return -(-self.receptive_radius // d) * d

    def _decoder_ok(self, bottom: int) -> bool:
        r = self._trim
        s = bottom
        if s < 1:
            return False
        for _ in range(self.n_pools):
            s = 2 * s - r
            if s < 1:
                return False
        return True

    # -- legality ---------------------------------------------------------------------
    def is_legal(self, input_size: int) -> bool:
        """Return True if the network can process an axis of ``input_size`` pixels."""
        m = self.min_input_size
        return input_size >= m and (input_size - m) % self.divisor == 0

    def nearest_legal(self, size: int) -> int:
        """The legal input size nearest to ``size`` (ties go up; never below the minimum)."""
        m, d = self.min_input_size, self.divisor
        if size <= m:
            return m
        below = m + (size - m) // d * d
        above = below if below == size else below + d
        return below if size - below < above - size else above

    def legal_sizes(self, lo: int, hi: int) -> list[int]:
        """All legal input sizes in ``[lo, hi]`` (inclusive), ascending."""
        m, d = self.min_input_size, self.divisor
        start = m if lo <= m else m + -(-(lo - m) // d) * d
        return list(range(start, hi + 1, d))

    def _neighbours(self, size: int) -> tuple[int | None, int]:
        m, d = self.min_input_size, self.divisor
        if size < m:
            return None, m
        below = m + (size - m) // d * d
        return below, below + d

    def _describe(self) -> str:
        return f"{self.n_pools} poolings, {self.padding} padding"

    # -- size maps --------------------------------------------------------------------
    def output_size(self, input_size: int) -> int:
        """Output size for an input of ``input_size`` pixels along one axis.

        Raises
        ------
        IllegalTileSize
            If ``input_size`` is illegal; the message names the nearest legal sizes.
        """
        if not self.is_legal(input_size):
            below, above = self._neighbours(input_size)
            if below is None:
                raise IllegalTileSize(
                    f"tile size {input_size} is too small for this network "
                    f"({self._describe()}): the smallest legal input size is {above} "
                    f"(output {above - self._shrink})"
                )
            raise IllegalTileSize(
                f"tile size {input_size} is not legal for this network ({self._describe()}): "
                f"every 2x2 pooling needs an even size; legal input sizes are "
                f"{self.min_input_size} + k*{self.divisor}; the nearest are {below} and {above}"
            )
        return input_size - self._shrink

    def input_size(self, output_size: int) -> int:
        """The input size whose output is exactly ``output_size`` pixels.

        Raises
        ------
        IllegalTileSize
            If no legal input gives this output; the message names the nearest reachable
            output sizes.
        """
        candidate = output_size + self._shrink
        if not self.is_legal(candidate):
            below, above = self._neighbours(candidate)
            s = self._shrink
            if below is None:
                raise IllegalTileSize(
                    f"output size {output_size} is too small for this network "
                    f"({self._describe()}): the smallest output size is {above - s}"
                )
            raise IllegalTileSize(
                f"output size {output_size} cannot be produced by this network "
                f"({self._describe()}); the nearest reachable output sizes are "
                f"{below - s} and {above - s}"
            )
        return candidate

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """Apply :meth:`output_size` to every axis of ``shape`` (e.g. ``(H, W)``)."""
        return tuple(self.output_size(int(s)) for s in shape)

    # -- JSON ---------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """JSON-able description (derived values included for readers of model files)."""
        return {
            "n_pools": self.n_pools,
            "padding": self.padding,
            "convs_per_level": self.convs_per_level,
            "kernel_size": self.kernel_size,
            "rf_radius": self.rf_radius,
            "divisor": self.divisor,
            "halo": self.halo,
            "min_input_size": self.min_input_size,
        }

    @classmethod
    def from_dict(cls, d: dict) -> TileGeometry:
        """Rebuild from :meth:`to_dict` output (derived keys are ignored)."""
        if not isinstance(d, dict) or "n_pools" not in d or "padding" not in d:
            raise InputError(f"a tile geometry needs 'n_pools' and 'padding'; got {d!r}")
        return cls(
            n_pools=d["n_pools"],
            padding=d["padding"],
            convs_per_level=d.get("convs_per_level", 2),
            kernel_size=d.get("kernel_size", 3),
            rf_radius=d.get("rf_radius"),
        )
