"""A package's ``rdf.yaml``, checked before anything builds objects from it.

YAML aliases (``*name``) repeat what an anchor (``&name``) marks: ten lines of aliases can
stand for 10**9 items (a "billion laughs"), which bioimageio.spec expanded in full (10**6
items took 6 s and 400 MB; 10**8 more than 6 GB). The description is therefore read as a
stream of YAML events first (PyYAML's safe parser, which never expands an alias) and refused
when it uses an alias at all (napari-unet never writes one, bioimage.io packages do not need
them), holds more nodes than :data:`MAX_NODES` or is larger than :data:`MAX_BYTES`. Only
zipfile and yaml are needed (no bioimageio, no torch).
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

from napari_unet.core.errors import InputError

#: The largest description read (an exported one has a few kB).
MAX_BYTES = 8 * 2**20
#: The most YAML nodes (scalars, lists, mappings) a description may hold.
MAX_NODES = 500_000
#: The names bioimageio.spec takes for a package's description (also ``NAME.rdf.yaml``...).
NAMES = ("rdf.yaml", "bioimageio.yaml", "model.yaml")
#: How a package whose bytes are damaged is named, and what to do (also for its weights).
DAMAGED = "the package file is damaged or incomplete"
AGAIN = "download, copy or export it again"


def is_description(name: str) -> bool:
    """Whether bioimageio.spec could take the file ``name`` for the package's description."""
    base = name.rsplit("/", 1)[-1]
    return any(base == n or base.endswith("." + n) for n in NAMES)


def check_text(data: bytes, where: str) -> None:
    """Refuse a description with aliases, too many nodes or bytes, or that is not YAML."""
    import yaml

    refused = f"{where}: the package's rdf.yaml is refused"
    if len(data) > MAX_BYTES:
        raise InputError(f"{refused}: it is larger than {MAX_BYTES // 2**20} MB")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    nodes = 0
    try:
        for event in yaml.parse(data, Loader=loader):
            if isinstance(event, yaml.AliasEvent):
                raise InputError(
                    f"{refused}: it uses YAML aliases (*{event.anchor}), which napari-unet "
                    "never writes and bioimage.io packages do not need (a chain of them can "
                    "expand to billions of items)"
                )
            if isinstance(event, yaml.NodeEvent):
                nodes += 1
                if nodes > MAX_NODES:
                    raise InputError(f"{refused}: it holds more than {MAX_NODES} YAML nodes")
    except yaml.YAMLError as exc:
        raise InputError(f"{refused}: it is not valid YAML ({exc})") from None


def check_description(path: Path) -> None:
    """:func:`check_text` for each file of a package that could be its description.

    ``path``: a zip, an unpacked package's folder or its yaml file.
    """
    where = str(path)
    if path.is_dir():
        for file in sorted(path.iterdir()):
            if file.is_file() and is_description(file.name):
                check_text(_read(file.open("rb"), file.stat().st_size, where), where)
    elif zipfile.is_zipfile(path):
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:  # an end record, but no list behind it
            raise InputError(f"{where}: {DAMAGED} (the zip archive is corrupt: {exc}); "
                             f"{AGAIN}") from None  # fmt: skip
        with archive:
            for info in archive.infolist():
                if not info.is_dir() and is_description(info.filename):
                    check_text(_read_entry(archive, info, where), where)
    elif path.is_file():
        check_text(_read(path.open("rb"), path.stat().st_size, where), where)


def _read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> bytes:
    """:func:`_read` of a zip entry; a damaged one is an InputError that says so.

    Before, a package whose rdf.yaml had one flipped byte (a bit-rotted download) ended
    import, predict and export in a traceback: "BadZipFile: Bad CRC-32 for file 'rdf.yaml'".
    """
    name = info.filename
    try:
        return _read(archive.open(info), info.file_size, where)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:  # CRC, deflate, cut
        raise InputError(f"{where}: {DAMAGED}: its {name} cannot be read ({exc}); "
                         f"{AGAIN}") from None  # fmt: skip
    except (NotImplementedError, RuntimeError) as exc:  # an unknown compression, encrypted
        raise InputError(
            f"{where}: its {name} cannot be read ({exc}); a bioimage.io package holds it "
            "unencrypted, stored or deflated"
        ) from None


def _read(stream, size: int, where: str) -> bytes:
    """At most :data:`MAX_BYTES` + 1 bytes (a zip entry may state a false size)."""
    if size > MAX_BYTES:
        raise InputError(
            f"{where}: the package's rdf.yaml is refused: it is larger than {MAX_BYTES // 2**20} MB"
        )
    with stream:
        return stream.read(MAX_BYTES + 1)


def safe_rdf(data: bytes, where: str = "the package"):
    """The description parsed (``yaml.safe_load``) after :func:`check_text`."""
    import yaml

    check_text(data, where)
    return yaml.safe_load(data)
