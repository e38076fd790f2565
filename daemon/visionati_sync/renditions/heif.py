"""Whether a HEIF (HEIC, AVIF) holds the image data it says it does, read from its boxes
(ISO/IEC 14496-12 and 23008-12) without decoding: a file cut short, or an image whose data
is a stub, is found the way the scan finds it (libheif refuses to decode it), at the cost of
reading the file once (`estimate`, which must price what the scan will pay for).

Only what is sure is said: a structure this reader does not follow (a new box version, data
built from other items) is left to the decoder, as if readable.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from .base import open_regular

Box = tuple[str, int, int]  # type, start of its payload, end


@dataclass
class _Items:
    primary: int | None = None
    types: dict[int, str] = field(default_factory=dict)
    # offset and length in the file of each item's data (None: built another way, in idat or
    # from other items, or running to the end: not checked here)
    extents: dict[int, list[tuple[int, int]] | None] = field(default_factory=dict)
    tiles: dict[int, list[int]] = field(default_factory=dict)  # a grid's 'dimg' items
    nal_length: int = 4  # bytes before each HEVC NAL unit (hvcC's lengthSizeMinusOne + 1)
    unknown: bool = False  # something this reader does not follow


META_MOST = 16 * 1024 * 1024  # a meta box larger than this is not one this reader follows


def heif_problem(path: str) -> str | None:
    """Given a HEIF file, why its primary image cannot be made whole (its data runs past
    the end of the file: libheif would paint what is missing green; or it is not the HEVC
    it claims to be), or None. Reads the meta box and each NAL unit's length, not the
    image data."""
    with open_regular(path) as handle:
        size = os.fstat(handle.fileno()).st_size
        try:
            items = _items(_meta(handle, size))
        except (struct.error, ValueError, IndexError):
            return None  # not a structure this reader follows: the decoder will say
        if items.unknown or items.primary is None:
            return None
        for item in [items.primary, *items.tiles.get(items.primary, [])]:
            kind = items.types.get(item)
            extents = items.extents.get(item)
            if kind not in ("hvc1", "av01") or not extents:
                continue
            if any(offset + length > size for offset, length in extents):
                return "its image data is cut short (the file ends before it does)"
            if kind == "hvc1" and not _nal_units_fit(handle, extents, items.nal_length):
                return "its image data is not the HEVC it claims to be"
    return None


def _meta(handle: BinaryIO, size: int) -> bytes:
    """The file's top-level meta box (header and all), found by walking the boxes."""
    position = 0
    while position + 8 <= size:
        handle.seek(position)
        header = handle.read(16)
        length, kind = struct.unpack_from(">I4s", header)
        if length == 1:
            (length,) = struct.unpack_from(">Q", header, 8)
        elif length == 0:
            length = size - position
        if length < 8:
            raise ValueError("a box shorter than its header")
        if kind == b"meta":
            if length > META_MOST:
                raise ValueError("a meta box too large to follow")
            handle.seek(position)
            return handle.read(length)
        position += length
    raise ValueError("no meta box")


def _boxes(data: bytes, start: int, end: int) -> Iterator[Box]:
    position = start
    while position + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, position)
        header = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, position + 8)
            header = 16
        elif size == 0:
            size = end - position
        if size < header or position + size > end:
            raise ValueError("a box runs past its parent")
        yield kind.decode("latin-1"), position + header, position + size
        position += size


def _items(meta: bytes) -> _Items:
    """What a meta box says of the items: their types, where their data is, the primary
    one, a grid's tiles, the length of HEVC's NAL unit lengths."""
    items = _Items()
    data = meta
    (_, payload, meta_end), *_ = _boxes(data, 0, len(data))
    for kind, start, end in _boxes(data, payload + 4, meta_end):  # meta is a full box
        if kind == "pitm":
            version = data[start]
            fmt = ">H" if version == 0 else ">I"
            (items.primary,) = struct.unpack_from(fmt, data, start + 4)
        elif kind == "iinf":
            _item_infos(data, start, end, items)
        elif kind == "iloc":
            _locations(data, start, items)
        elif kind == "iref":
            _references(data, start, end, items)
        elif kind == "iprp":
            _properties(data, start, end, items)
    return items


def _item_infos(data: bytes, start: int, end: int, items: _Items) -> None:
    version = data[start]
    first = start + 4 + (2 if version == 0 else 4)
    for kind, s, _ in _boxes(data, first, end):
        if kind != "infe":
            continue
        infe_version = data[s]
        if infe_version < 2:
            items.unknown = True
            return
        if infe_version == 2:
            item, _, item_type = struct.unpack_from(">HH4s", data, s + 4)
        else:
            item, _, item_type = struct.unpack_from(">IH4s", data, s + 4)
        items.types[item] = item_type.decode("latin-1")


def _sized(data: bytes, position: int, size: int) -> int:
    if size == 0:
        return 0
    return int.from_bytes(data[position : position + size], "big")


def _locations(data: bytes, start: int, items: _Items) -> None:
    version = data[start]
    if version > 2:
        items.unknown = True
        return
    sizes = data[start + 4], data[start + 5]
    offset_size, length_size = sizes[0] >> 4, sizes[0] & 15
    base_size, index_size = sizes[1] >> 4, (sizes[1] & 15 if version else 0)
    position = start + 6
    count_size = 2 if version < 2 else 4
    count = _sized(data, position, count_size)
    position += count_size
    for _ in range(count):
        item = _sized(data, position, count_size)
        position += count_size
        method = 0
        if version:
            method = _sized(data, position, 2) & 15
            position += 2
        position += 2  # data_reference_index
        base = _sized(data, position, base_size)
        position += base_size
        extent_count = _sized(data, position, 2)
        position += 2
        extents = []
        for _ in range(extent_count):
            position += index_size
            offset = _sized(data, position, offset_size)
            position += offset_size
            length = _sized(data, position, length_size)
            position += length_size
            extents.append((base + offset, length))
        whole = method == 0 and all(length for _, length in extents)
        items.extents[item] = extents if whole else None


def _references(data: bytes, start: int, end: int, items: _Items) -> None:
    size = 2 if data[start] == 0 else 4
    for kind, s, e in _boxes(data, start + 4, end):
        source = _sized(data, s, size)
        count = _sized(data, s + size, 2)
        targets = [_sized(data, s + size + 2 + n * size, size) for n in range(count)]
        if kind == "dimg" and s + size + 2 + count * size <= e:
            items.tiles.setdefault(source, []).extend(targets)


def _properties(data: bytes, start: int, end: int, items: _Items) -> None:
    for kind, s, e in _boxes(data, start, end):
        if kind != "ipco":
            continue
        for prop, ps, pe in _boxes(data, s, e):
            if prop == "hvcC" and pe - ps > 21:
                items.nal_length = (data[ps + 21] & 3) + 1
                return


def _nal_units_fit(handle: BinaryIO, extents: list[tuple[int, int]], length_size: int) -> bool:
    """Whether the item's data is whole NAL units, each after its length (HEVC in HEIF),
    reading the lengths alone. An item in several extents is read as one stream."""
    if len(extents) != 1:
        return True  # rare; left to the decoder
    ((start, total),) = extents
    position = 0
    while position < total:
        if position + length_size > total:
            return False
        handle.seek(start + position)
        size = int.from_bytes(handle.read(length_size), "big")
        if size == 0:
            return False
        position += length_size + size
    return position == total
