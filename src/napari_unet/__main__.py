"""Allow ``python -m napari_unet``."""

import sys

from napari_unet.cli import main

sys.exit(main())
