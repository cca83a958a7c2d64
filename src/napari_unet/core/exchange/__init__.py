"""Model exchange: bioimage.io model packages written from and read into napari-unet models.

``archsource`` writes the network code as one self-contained source file (torch only), so a
package runs in tools without napari-unet; ``export`` builds and writes a package
(``pytorch_state_dict`` with a ``torchscript`` child, test tensors, cover, documentation);
``card`` writes its documentation, cover and citations; ``importer`` turns a package this
library exported back into a model and its metadata; ``identity`` keeps a package's name,
authors and licence through both. bioimageio.core is an optional extra
(``pip install ".[bioimageio]"`` in the source folder), imported only when a package is
written or read.
"""
