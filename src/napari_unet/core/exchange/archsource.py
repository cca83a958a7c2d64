"""The network code as one self-contained source file, for bioimage.io packages.

A ``pytorch_state_dict`` weight of a bioimage.io package names its architecture as a source
file plus a callable and its keyword arguments. This module writes that file from this
library's own modules (errors, geometry, blocks, the three networks and the heads), with
their ``napari_unet`` imports removed, so the file needs only torch and is the same code that
trained the weights, not a copy kept by hand. Its callable :data:`CALLABLE` wraps the network
and applies the head's activation, so the package's output is probabilities.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

#: The modules, in dependency order, whose code the source file holds.
MODULES = (
    "napari_unet.core.errors",
    "napari_unet.core.models.geometry",
    "napari_unet.core.models.heads",
    "napari_unet.core.models.blocks",
    "napari_unet.core.models.unet",
    "napari_unet.core.models.unetpp",
    "napari_unet.core.models.unet3p",
)
#: Name of the source file inside a package, and of the callable that builds the network.
FILENAME = "napari_unet_arch.py"
CALLABLE = "NapariUNetProbabilities"

_HEADER = '''"""napari-unet networks (U-Net, UNet++, UNet 3+), self-contained: needs torch only.

Written by napari-unet {version} from its modules {modules}.
``{callable}(config)`` builds the network of a napari-unet model config and returns
probabilities: a softmax over the classes (and a sigmoid for a regression channel).
"""

from __future__ import annotations
'''

_TAIL = '''

# -- the package's callable ---------------------------------------------------------------
ARCHITECTURES = {"unet": UNet, "unetpp": UNetPlusPlus, "unet3p": UNet3Plus}


class NapariUNetProbabilities(nn.Module):
    """A napari-unet network and its head's activation: (N, C, H, W) -> probabilities.

    ``config`` is the model's config (``{"arch": "unet", ...}``, optionally ``"head"``).
    The wrapped network is ``self.net``; its state dict keys start with ``net.``.
    """

    def __init__(self, config: dict) -> None:
        super().__init__()
        kwargs = {k: v for k, v in config.items() if k not in ("arch", "head")}
        self.head_name = config.get("head") or DEFAULT_HEAD
        if config.get("head"):
            kwargs.setdefault("n_classes", HEADS[self.head_name].n_outputs)
        self.net = ARCHITECTURES[config["arch"]](**kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return activate(self.net(x), self.head_name)
'''


def _module_source(name: str) -> str:
    """The code of one module without its docstring, future and napari_unet imports, __all__."""
    path = Path(importlib.util.find_spec(name).origin)
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    drop: set[int] = set()
    tree = ast.parse(text)
    for i, node in enumerate(tree.body):
        is_doc = i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        is_ours = isinstance(node, ast.ImportFrom) and (
            node.module == "__future__" or (node.module or "").startswith("napari_unet")
        )
        is_all = isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        )
        if is_doc or is_ours or is_all:
            drop.update(range(node.lineno - 1, node.end_lineno))
    kept = [line for i, line in enumerate(lines) if i not in drop]
    return f"\n# -- from {name} " + "-" * max(0, 78 - len(name)) + "\n" + "\n".join(kept).strip()


def architecture_source() -> str:
    """The text of the self-contained architecture file."""
    from napari_unet._version import __version__

    header = _HEADER.format(version=__version__, modules=", ".join(MODULES), callable=CALLABLE)
    body = "\n\n".join(_module_source(m) for m in MODULES)
    return header + body + "\n" + _TAIL


def write_architecture(folder: str | Path) -> Path:
    """Write :data:`FILENAME` into ``folder``; return its path."""
    path = Path(folder) / FILENAME
    path.write_text(architecture_source(), encoding="utf-8")
    return path
