"""Finding the ``autopack`` entry points without importing ``importlib.metadata``.

Every ``autopack`` start, ``--help`` included, must find its plugins. On
Python 3.11 importing ``importlib.metadata`` costs about 40 ms (it imports
``email``, ``zipfile``, ``csv`` and ``pathlib``), a third of the start-up
budget. The files it reads are standard and simple: each installed
distribution is a ``NAME-VERSION.dist-info`` (or ``NAME.egg-info``) folder
on ``sys.path`` with an INI-style ``entry_points.txt`` and RFC 822 headers
in ``METADATA`` (or ``PKG-INFO``). This module reads exactly those files, in
the order and with the de-duplication ``importlib.metadata.entry_points()``
uses (the first distribution of a normalised name on the path wins), and
hands anything it does not model (a zip or egg on the path, a meta-path
finder with its own distributions) back to ``importlib.metadata`` itself.
A test holds the two to the same answer.
"""

from __future__ import annotations

import os
import re
import sys
from importlib import import_module
from typing import Any, Iterable, NamedTuple, Sequence

_SUFFIXES = (".dist-info", ".egg-info")
# As importlib.metadata's Prepared.normalize (PEP 503 names).
_NORMALIZE = re.compile(r"[-_.]+")


class Dist(NamedTuple):
    """The part of an installed distribution a plugin listing shows."""

    name: str
    version: str


class FoundEntryPoint(NamedTuple):
    """An entry point as ``importlib.metadata.EntryPoint`` presents it (``name``, ``value``, ``dist``, ``load``)."""

    name: str
    value: str
    group: str
    dist: Dist

    def load(self) -> Any:
        """Import the module the value names and follow its attributes, as ``EntryPoint.load`` does."""
        target = self.value.split("[", 1)[0].strip()
        module_name, _, attrs = target.partition(":")
        obj: Any = import_module(module_name.strip())
        for attr in filter(None, attrs.strip().split(".")):
            obj = getattr(obj, attr)
        return obj


class _Unmodelled(Exception):
    """Something on the path only ``importlib.metadata`` knows how to read."""


def _normalize(name: str) -> str:
    return _NORMALIZE.sub("_", name).lower()


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError):
        return None


def _headers(text: str) -> dict[str, str]:
    # The header block of METADATA / PKG-INFO: "Key: value" lines up to the
    # first blank line; keys are case-blind and the first occurrence wins, as
    # in email.message.Message.
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            break
        if line[:1] in (" ", "\t"):
            continue
        key, sep, value = line.partition(":")
        key = key.strip().lower()
        if sep and key not in out:
            out[key] = value.strip()
    return out


def _group_entries(text: str, group: str) -> list[tuple[str, str]]:
    # INI as importlib.metadata's Sectioned reads it: stripped lines, '#' and
    # ';' comments, "[section]" headers, "name = value" split at the first '='.
    out: list[tuple[str, str]] = []
    section: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line.strip("[]")
            continue
        if section != group:
            continue
        if "=" not in line:
            raise _Unmodelled(f"entry point line without '=': {line!r}")
        name, value = line.split("=", 1)
        out.append((name.strip(), value.strip()))
    return out


def _distribution_folders(paths: Sequence[str]) -> Iterable[str]:
    """Every distribution's folder, in importlib.metadata's order."""
    for entry in paths:
        root = entry or "."
        try:
            children = os.listdir(root)
        except (NotADirectoryError, FileNotFoundError):
            if os.path.isfile(root):
                raise _Unmodelled(f"{entry!r} on the path is a file (a zip or an egg)") from None
            continue
        except OSError:
            continue
        if entry.lower().endswith(".egg"):
            raise _Unmodelled(f"{entry!r} on the path is an egg")
        # Grouped by name in order of first appearance, as Lookup.search does.
        grouped: dict[str, list[str]] = {}
        for child in children:
            low = child.lower()
            if low.endswith(_SUFFIXES):
                stem = low.rpartition(".")[0].partition("-")[0]
                grouped.setdefault(_normalize(stem), []).append(os.path.join(root, child))
        for folders in grouped.values():
            yield from folders


def _metadata(folder: str) -> dict[str, str]:
    return _headers(_read(os.path.join(folder, "METADATA")) or _read(os.path.join(folder, "PKG-INFO")) or "")


def _scan(group: str, paths: Sequence[str]) -> list[FoundEntryPoint]:
    seen: set[str] = set()
    found: list[FoundEntryPoint] = []
    for folder in _distribution_folders(paths):
        headers: dict[str, str] | None = None
        base = os.path.basename(folder)
        stem, ext = os.path.splitext(base)
        if ext in _SUFFIXES:
            key = _normalize(stem.partition("-")[0])
        else:
            # importlib.metadata names a folder by its suffix only when the
            # suffix is lower case; otherwise by the Name in its metadata.
            headers = _metadata(folder)
            key = _normalize(headers.get("name", ""))
        if key in seen:
            continue
        seen.add(key)
        text = _read(os.path.join(folder, "entry_points.txt"))
        if not text:
            continue
        entries = _group_entries(text, group)
        if not entries:
            continue
        headers = _metadata(folder) if headers is None else headers
        dist = Dist(headers.get("name", "?"), headers.get("version", "?"))
        found.extend(FoundEntryPoint(ep_name, value, group, dist) for ep_name, value in entries)
    return found


def _only_the_path_finder_has_distributions() -> bool:
    from importlib.machinery import PathFinder

    return all(f is PathFinder or not hasattr(f, "find_distributions") for f in sys.meta_path)


def find_entry_points(group: str, paths: Sequence[str] | None = None) -> list[Any]:
    """Every entry point of ``group`` in the installed distributions, as ``importlib.metadata`` would list them.

    :param paths: the folders to search; ``sys.path`` by default.
    :returns: objects with ``name``, ``value``, ``dist.name``, ``dist.version`` and ``load()``.
    """
    search = list(sys.path if paths is None else paths)
    if _only_the_path_finder_has_distributions():
        try:
            return _scan(group, search)
        except _Unmodelled:
            pass
    from importlib.metadata import distributions, entry_points

    if paths is None:
        return list(entry_points(group=group))
    out: list[Any] = []
    seen: set[str] = set()
    for dist in distributions(path=search):
        # The same de-duplication as entry_points(): by the name the folder gives.
        key = getattr(dist, "_normalized_name", None) or _normalize(dist.metadata["Name"] or "")
        if key in seen:
            continue
        seen.add(key)
        out.extend(ep for ep in dist.entry_points if ep.group == group)
    return out
