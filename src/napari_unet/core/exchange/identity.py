"""A package's identity: its name, authors and licence, kept through import and export.

One logic for the ``napari-unet export`` command, :func:`~napari_unet.import_bioimageio`
and the docks' Export button. A package keeps its own name, authors and licence unless
new ones are given: exporting a package again reads them from its ``rdf.yaml``
(:func:`identity_of`), importing one records them in the model file's metadata
(:func:`imported_identity`), and exporting a model file uses the ones it records
(:func:`choose_identity`). Before, the command and import -> export gave the model's
file name, "unknown (exported by napari-unet)" and BSD-3-Clause instead. Only zipfile
and yaml are needed (no bioimageio, no torch, no Qt).
"""

from __future__ import annotations

import os
from pathlib import Path

from napari_unet.core.errors import InputError

#: The identity's keys, as ``export_bioimageio`` takes them and a model file records them.
KEYS = ("name", "authors", "license")
#: napari-unet's licence, the package's when neither the caller nor the model gives one.
DEFAULT_LICENSE = "BSD-3-Clause"
#: Who signs a package whose model records no authors.
UNKNOWN_AUTHORS = ("unknown (exported by napari-unet)",)
#: Who signs the built-in models' packages.
BUILTIN_AUTHORS = ("napari-unet developers",)

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+- ()")


def package_name(name: str | None, default: str) -> str:
    """The package's name: ``name`` if the spec accepts it, else one made from ``default``.

    The spec allows 5 to 128 letters, digits, spaces and ``_+-()``.
    """
    if name is not None:
        if not name.strip():  # "     " passed the spec's rule and bioimageio's test
            raise InputError(f"a package name cannot be blank; got {name!r}")
        if not 5 <= len(name) <= 128 or set(name) - _NAME_CHARS:
            raise InputError(
                f"a package name has 5 to 128 letters, digits, spaces or _+-(); got {name!r}"
            )
        return name
    made = "".join(c if c in _NAME_CHARS else "-" for c in default)[:128]
    return made if len(made) >= 5 else f"napari-unet {made}"


def package_identity(rdf: dict | None) -> dict:
    """The ``name``, ``authors`` and ``license`` a package's ``rdf.yaml`` records (those found).

    The keyword arguments of :func:`~napari_unet.core.exchange.export.export_bioimageio`; a
    name the spec would refuse is left out (the model's default name is used then).
    """
    rdf = rdf if isinstance(rdf, dict) else {}
    out: dict = {"name": rdf.get("name") if isinstance(rdf.get("name"), str) else None}
    try:
        package_name(out["name"], "")  # refuses a name the spec would refuse
    except InputError:
        out["name"] = None
    people = rdf.get("authors") if isinstance(rdf.get("authors"), list) else []
    names = [a.get("name") if isinstance(a, dict) else a for a in people]
    out["authors"] = [str(n) for n in names if isinstance(n, str) and n.strip()] or None
    licence = rdf.get("license")
    out["license"] = licence if isinstance(licence, str) and licence.strip() else None
    return {k: v for k, v in out.items() if v is not None}


#: The first bytes of a zip archive: a package, whatever its file is called.
ZIP_MAGIC = b"PK\x03\x04"


def is_package_file(path) -> bool:
    """Whether ``path`` is an existing file that holds a package rather than a model file.

    A ``.zip``, or a file whose bytes are a zip archive, as the importer reads it: a package
    renamed ``.bmz`` or without a suffix is one (before, ``predict`` and ``export`` read it
    as a model file: "this is a zip archive, not a napari-unet model file").
    """
    if not isinstance(path, str | os.PathLike) or not Path(path).is_file():
        return False
    if Path(path).suffix.lower() == ".zip":
        return True
    try:
        with open(path, "rb") as f:
            return f.read(len(ZIP_MAGIC)) == ZIP_MAGIC
    except OSError:  # unreadable: the model file's reading says why
        return False


def read_rdf(path) -> dict | None:
    """The ``rdf.yaml`` of the package (zip) at ``path``, parsed (None: none readable).

    Only the YAML is read (no bioimageio, no torch), and only when
    :mod:`~napari_unet.core.exchange.rdfcheck` finds no aliases in it.
    """
    import zipfile

    import yaml

    from napari_unet.core.exchange.rdfcheck import MAX_BYTES, safe_rdf

    try:
        with zipfile.ZipFile(path) as archive, archive.open("rdf.yaml") as f:
            rdf = safe_rdf(f.read(MAX_BYTES + 1))  # refused (None): aliases, too large
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, yaml.YAMLError, InputError):
        return None
    return rdf if isinstance(rdf, dict) else None


def identity_of(source, **given) -> dict:
    """``export_bioimageio``'s ``name``/``authors``/``license`` for exporting ``source``.

    Those ``given`` (not None) win; for a package (a ``.zip``), the others are the ones its
    ``rdf.yaml`` records; the rest are left to the model's own.
    """
    found = package_identity(read_rdf(source)) if is_package_file(source) else {}
    found.update({k: v for k, v in given.items() if k in KEYS and v is not None})
    return found


def author_names(authors) -> list[str]:
    """``authors`` as a list of names; anything but names (strings) is refused.

    A string is one author (before, "Ada Lovelace" was split into the authors A, d, a, ...).
    """
    if isinstance(authors, str):
        authors = [authors]
    if not isinstance(authors, list | tuple) or not all(isinstance(a, str) for a in authors):
        raise InputError(f"authors must be a list of names (strings); got {authors!r}")
    if not all(a.strip() for a in authors):  # an empty shell variable signed it by nobody
        raise InputError(f"an author's name cannot be blank; got {list(authors)!r}")
    if not authors:  # before, authors=[] wrote a package signed by nobody
        raise InputError(
            "authors cannot be an empty list: name at least one, or leave authors out "
            "(None) for the model's own"
        )
    return list(authors)


def licence_given(license: str | None) -> str | None:
    """``license`` as given (None: not given); a blank one is refused.

    Before, ``--license ""`` (an empty shell variable) gave the package BSD-3-Clause.
    """
    if isinstance(license, str) and not license.strip():
        raise InputError(f"a licence cannot be blank; got {license!r}")
    return license


def _pick(metadata: dict, default_name: str, builtin: bool, name, authors, license) -> dict:
    if authors is None:
        recorded = metadata.get("authors") or []
        recorded = [recorded] if isinstance(recorded, str) else recorded
        kept = [a for a in recorded if isinstance(a, str) and a.strip()]  # blanks: unknown
        authors = BUILTIN_AUTHORS if builtin else kept or UNKNOWN_AUTHORS
    return {
        "name": package_name(name, default_name),
        "authors": author_names(authors),
        "license": licence_given(license) or metadata.get("license") or DEFAULT_LICENSE,
    }


def choose_identity(
    metadata: dict, default_name: str, builtin: bool = False, **given
) -> tuple[dict, dict]:
    """``(identity, recorded)``: the package's name, authors and licence, and what to record.

    Those given (not None) win, else the ones the model's ``metadata`` records, else the
    defaults (``default_name``; "napari-unet developers" for a ``builtin`` model, else
    "unknown (exported by napari-unet)"; BSD-3-Clause). ``recorded`` holds those given that
    differ from the model's own: the package's ``config.napari_unet`` records them, so that
    importing it and exporting the model file again keeps them.
    """
    args = {k: given.get(k) for k in KEYS}
    chosen = _pick(metadata, default_name, builtin, **args)
    own = _pick(metadata, default_name, builtin, None, None, None)
    return chosen, {k: v for k, v in chosen.items() if v != own[k]}


def imported_identity(metadata: dict, rdf_identity: dict) -> dict:
    """What of a package's identity (``rdf.yaml``'s) the imported model file records.

    Those that differ from what exporting the model file would give anyway: a name other
    than the one the model records (a model recording none takes its file's name), authors
    other than napari-unet's own signatures, a licence other than BSD-3-Clause. Built-in
    models' packages therefore import to the very file they came from.
    """
    out = {}
    name = rdf_identity.get("name")
    if name and metadata.get("name") and name != package_name(None, str(metadata["name"])):
        out["name"] = name
    authors = rdf_identity.get("authors")
    auto = (list(UNKNOWN_AUTHORS), list(BUILTIN_AUTHORS))
    if authors and authors != metadata.get("authors") and authors not in auto:
        out["authors"] = list(authors)
    licence = rdf_identity.get("license")
    if licence and licence != (metadata.get("license") or DEFAULT_LICENSE):
        out["license"] = licence
    return out
