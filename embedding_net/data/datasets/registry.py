"""The one table of dataset layouts: name -> how to list its records and what they carry.

Every part of the package that reads a dataset by layout name goes through this table: the
config's ``data.layout`` (:func:`embedding_net.config.records.list_records`), the ``--layout``
option of every CLI subcommand, the checks that depend on a layout (``split: given`` needs
given splits, ``triplets_csv`` trains a triplet model) and the readers of held-out images.

Adding a dataset is one module in this package (a ``listing(source, people_file=None)``
function returning a :class:`~embedding_net.data.datasets.base.Listing`) plus one
:class:`Layout` line in :data:`LAYOUTS` naming that module (see docs/data.md, "Adding a
dataset"). Modules are imported when a layout is first read.
"""

from __future__ import annotations

import importlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embedding_net.data.datasets.base import Listing


@dataclass(frozen=True, eq=False)
class Layout:
    """How a dataset is read, and what its records carry.

    Attributes:
        name: the layout's name (``data.layout`` in a config, ``--layout`` on the CLI).
        module: the module of :mod:`embedding_net.data.datasets` that reads it; its
            ``listing(source: Path, people_file: str | None, **options) -> Listing`` is called.
        description: one line saying what the layout reads (for readers of the table).
        source: ``"folder"`` (the source is a directory) or ``"file"`` (e.g. a CSV).
        cameras: records carry a ``camera`` id (re-id protocols remove same-camera matches).
        tracklets: records carry a ``tracklet`` id (``split: tracklet`` holds whole tracks out).
        pairs: the dataset ships verification pair files (LFW ``pairs.txt``).
        given_split: records carry ``metadata["split"]`` (``split: given``).
        triplet_rows: the listing also holds (anchor, positive, negative) rows: trains
            ``model.kind: triplet``.
        image_files: records name image files; False when they are positions in TFRecord
            shards (read with :func:`~embedding_net.data.datasets.tfrecord.read_shard_images`).
        aliases: deprecated spellings, still accepted with a ``DeprecationWarning``.
        options: keyword arguments of the module's ``listing`` (``{"naming": "mars"}``).
    """

    name: str
    module: str
    description: str
    source: str = "folder"
    cameras: bool = False
    tracklets: bool = False
    pairs: bool = False
    given_split: bool = False
    triplet_rows: bool = False
    image_files: bool = True
    aliases: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)

    def read(self, source: str | Path, people_file: str | None = None) -> Listing:
        """The :class:`Listing` of ``source`` (``people_file``: LFW people to keep)."""
        module = importlib.import_module(f"embedding_net.data.datasets.{self.module}")
        return module.listing(Path(source), people_file, **self.options)


# fmt: off
LAYOUTS: dict[str, Layout] = {layout.name: layout for layout in (
    Layout("folders", "folders", "root/<class>/* or root/train|val/<class>/*", given_split=True),
    Layout("gtsrb", "gtsrb", "GTSRB class folders with track ids", tracklets=True, given_split=True),
    Layout("cuhk03", "reid", "CUHK03 file names 0005_c1_00.jpg", cameras=True, options={"naming": "cuhk03"}),
    Layout("market", "reid", "Market-1501 file names 0001_c1s1_000151_00.jpg", cameras=True, options={"naming": "market"}),
    Layout("duke", "reid", "DukeMTMC-reID file names (Market-1501 naming)", cameras=True, options={"naming": "duke"}),
    Layout("mars", "reid", "MARS file names 0001C1T0001F001.jpg", cameras=True, tracklets=True, options={"naming": "mars"}),
    Layout("lfw", "lfw", "LFW person folders Name/Name_0001.jpg", pairs=True),
    Layout("triplets_csv", "triplets_csv", "CSV with Anchor,Positive,Negative columns", source="file", triplet_rows=True, aliases=("triplets-csv",)),
    Layout("tfrecord", "tfrecord", "folder written by embedding-net tfrecord", given_split=True, image_files=False),
)}
# fmt: on

_ALIASES = {alias: layout.name for layout in LAYOUTS.values() for alias in layout.aliases}


def find_layout(name: str) -> Layout | None:
    """The layout called ``name`` or with ``name`` as an alias (no warning); None if none."""
    if not isinstance(name, str):
        return None
    return LAYOUTS.get(_ALIASES.get(name, name))


def get_layout(name: str | Layout) -> Layout:
    """The :class:`Layout` called ``name``.

    A deprecated alias (``"triplets-csv"``) gives its layout with a ``DeprecationWarning``.

    Raises:
        ValueError: unknown name; the message lists the valid names.
    """
    if isinstance(name, Layout):
        return name
    layout = find_layout(name)
    if layout is None:
        raise ValueError(f"Unknown layout {name!r}: expected one of {list(LAYOUTS)}")
    if layout.name != name:
        warnings.warn(
            f"layout {name!r} is deprecated: use {layout.name!r}", DeprecationWarning, stacklevel=2
        )
    return layout


def layout_names(**flags) -> tuple[str, ...]:
    """Names of the layouts (table order) whose attributes equal ``flags``.

    ``layout_names()`` lists all; ``layout_names(image_files=True, source="folder")`` the
    layouts of image folders; ``layout_names(tracklets=True)`` those with track ids.

    Raises:
        ValueError: a flag is not a :class:`Layout` attribute.
    """
    fields = Layout.__dataclass_fields__
    unknown = sorted(set(flags) - set(fields))
    if unknown:
        raise ValueError(f"layout_names: unknown attribute(s) {unknown}, expected {list(fields)}")
    return tuple(
        name
        for name, layout in LAYOUTS.items()
        if all(getattr(layout, k) == v for k, v in flags.items())
    )


def list_layout_records(
    layout: str | Layout, source: str | Path, people_file: str | None = None
) -> Listing:
    """``(records, triplets)`` of ``source`` read as ``layout`` (see :meth:`Layout.read`)."""
    return get_layout(layout).read(source, people_file)
