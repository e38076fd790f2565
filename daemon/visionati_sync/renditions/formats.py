"""Which formats a library holds and how each is told: by its name first (cheap, for the
scanner and the watcher), then by its bytes (for the file as it is). A phone's ``.heic``
that holds a JPEG is a JPEG; a ``.jpg`` whose bytes match no format is skipped, saying so.

Pure: names and bytes in, a verdict out. What becomes of each format (sent as it is,
converted, a RAW's preview, a video's frames) is ``renditions``' business.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    IMAGE = "image"
    RAW = "raw"
    VIDEO = "video"


# Formats the API's own clients send (its browser extension and WordPress plugin); other
# videos (MPEG-TS from camcorders) have their frames taken here.
SENDABLE = frozenset({"jpeg", "png", "gif", "webp", "bmp", "mp4", "mov", "webm", "mkv", "avi"})

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".gif", ".webp", ".bmp"}
    | {".heic", ".heif", ".hif", ".avif", ".tif", ".tiff", ".jxl"}
)
RAW_EXTENSIONS = frozenset(
    f".{ext}"
    for ext in [
        "cr2",
        "cr3",
        "crw",
        "nef",
        "nrw",
        "arw",
        "srf",
        "sr2",
        "dng",
        "raf",
        "orf",
        "rw2",
        "pef",
        "srw",
        "x3f",
        "3fr",
        "iiq",
        "rwl",
        "erf",
        "mos",
        "mrw",
        "kdc",
        "dcr",
        "raw",
    ]
)
VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".qt", ".webm", ".mkv", ".avi", ".3gp", ".3g2", ".mts", ".m2ts"}
)
EXTENSIONS = IMAGE_EXTENSIONS | RAW_EXTENSIONS | VIDEO_EXTENSIONS
# a RAW's companion whose result it may share (``upload.pairs: share``)
PAIR_EXTENSIONS = (".jpg", ".jpeg", ".JPG", ".JPEG", ".Jpg", ".heic", ".HEIC")

HEAD_BYTES = 4096  # enough for every signature below, ISO boxes' brand lists included

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"mif2"}
_AVIF_BRANDS = {b"avif", b"avis"}
_QUICKTIME_BOXES = {b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot"}
# RAW formats with a signature of their own (the others are TIFF inside)
_RAW_MAGIC = (
    (0, b"FUJIFILMCCD-RAW"),
    (0, b"IIU\x00"),  # Panasonic RW2
    (0, b"IIRO"),  # Olympus ORF
    (0, b"IIRS"),
    (0, b"MMOR"),
    (0, b"FOVb"),  # Sigma X3F
    (0, b"\x00MRM"),  # Minolta MRW
    (6, b"HEAPCCDR"),  # Canon CRW
)


@dataclass(frozen=True)
class Format:
    """What a file's bytes are: ``name`` (``jpeg``, ``heif``, ``tiff``, ``raw``, ``mp4``…)
    and its kind."""

    name: str
    kind: Kind

    @property
    def sendable(self) -> bool:
        """Whether the API takes these bytes as they are (within its limits)."""
        return self.name in SENDABLE


def extension(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def selected(name: str) -> bool:
    """Given a file name, whether it may hold an image, a RAW or a video we tag. (Asked of
    every file of every rescan: ``extension`` inlined.)"""
    dot = name.rfind(".")
    return dot > 0 and name[dot:].lower() in EXTENSIONS


def sniff(head: bytes, name: str = "") -> Format | None:
    """Given a file's first bytes (``HEAD_BYTES`` of them) and its name, return the format
    the bytes announce, or None. The name only decides among formats that share a
    signature: a TIFF with a RAW's extension (DNG, NEF, CR2, ARW…) is that RAW."""
    for offset, magic in _RAW_MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return Format("raw", Kind.RAW)
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        raw = extension(name) in RAW_EXTENSIONS
        return Format("raw", Kind.RAW) if raw else Format("tiff", Kind.IMAGE)
    if head.startswith(b"\xff\xd8\xff"):
        return Format("jpeg", Kind.IMAGE)
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Format("png", Kind.IMAGE)
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return Format("gif", Kind.IMAGE)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Format("webp", Kind.IMAGE)
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return Format("avi", Kind.VIDEO)
    if head[:2] == b"BM" and len(head) >= 26:
        return Format("bmp", Kind.IMAGE)
    if head[:2] == b"\xff\x0a" or head[:12] == b"\x00\x00\x00\x0cJXL \r\n\x87\n":
        return Format("jxl", Kind.IMAGE)
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return Format("webm" if b"webm" in head[:64] else "mkv", Kind.VIDEO)
    if _transport_stream(head):
        return Format("mts", Kind.VIDEO)
    if head[4:8] == b"ftyp":
        return _iso_media(head)
    if head[4:8] in _QUICKTIME_BOXES:
        return Format("mov", Kind.VIDEO)
    return None


def _iso_media(head: bytes) -> Format:
    """An ISO base media file (HEIF, AVIF, CR3, MP4, MOV, 3GP): its brands say which."""
    size = int.from_bytes(head[:4], "big")
    major = head[8:12]
    brands = {major} | {head[i : i + 4] for i in range(16, min(size, len(head)) - 3, 4)}
    if major == b"crx ":
        return Format("raw", Kind.RAW)
    if brands & _AVIF_BRANDS:
        return Format("avif", Kind.IMAGE)
    if major in _HEIF_BRANDS or (brands & _HEIF_BRANDS and not brands & {b"isom", b"mp42"}):
        return Format("heif", Kind.IMAGE)
    if major == b"qt  ":
        return Format("mov", Kind.VIDEO)
    return Format("mp4", Kind.VIDEO)


def _transport_stream(head: bytes) -> bool:
    """MPEG-TS (188-byte packets) or AVCHD's M2TS (192: a 4-byte time code first)."""
    return (len(head) > 376 and head[0] == head[188] == head[376] == 0x47) or (
        len(head) > 388 and head[4] == head[196] == head[388] == 0x47
    )


def describe(head: bytes) -> str:
    """Given bytes that matched no format, say so and how they start, for the skip reason."""
    if not head:
        return "the file is empty"
    return f"not an image, RAW or video of a known format: its content starts with {head[:8]!r}"
