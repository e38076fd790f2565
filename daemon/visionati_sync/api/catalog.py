"""The Visionati API's documented vocabulary and price table, in one place.

Config validation, the emulator's billing and the cost estimate all read from here, so the
three can never disagree about what a backend costs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

FEATURES = ("brands", "colors", "descriptions", "faces", "nsfw", "tags", "texts")
ROLES = (
    "general",
    "alttext",
    "artist",
    "caption",
    "comedian",
    "critic",
    "ecommerce",
    "inspector",
    "promoter",
    "prompt",
    "realtor",
    "tweet",
)

# Price in US cents per image for each (backend, feature) the backend offers.
_DESCRIPTION_PRICES = {
    "claude": Decimal("3"),
    "openai": Decimal("2"),
    "grok": Decimal("2"),
    "gemini": Decimal("1"),
    "jinaai": Decimal("1"),
    "llava": Decimal("1"),
    "bakllava": Decimal("1"),
}
_DETECTION_PRICES = {
    "clarifai": (Decimal("0.15"), ("tags", "nsfw")),
    "imagga": (Decimal("0.15"), ("tags", "nsfw")),
    "googlevision": (Decimal("0.2"), ("tags", "nsfw", "faces", "colors", "brands", "texts")),
    "rekognition": (Decimal("0.15"), ("tags", "nsfw", "faces")),
}
PRICES: dict[tuple[str, str], Decimal] = {
    **{(backend, "descriptions"): price for backend, price in _DESCRIPTION_PRICES.items()},
    **{
        (backend, feature): price
        for backend, (price, features) in _DETECTION_PRICES.items()
        for feature in features
    },
}
BACKENDS = tuple(sorted({backend for backend, _ in PRICES}))
DEFAULT_BACKENDS = ("claude", "gemini", "grok", "openai", "clarifai", "googlevision", "rekognition")
PROMPT_BLOCK_CHARS = 2500
MAX_FILE_BYTES = 20_000_000  # the API says "Max 20MB": safe whether it means MB or MiB


def backend_features(backend: str) -> tuple[str, ...]:
    """Given a backend, return the features it can answer."""
    return tuple(feature for (name, feature) in PRICES if name == backend)


def drift(options: dict[str, Any], charged: int, estimated: int) -> str | None:
    """Given a completed request's options, what the API charged for it and what this
    table said it would, say how they differ (None: they agree). Estimates and budgets
    rest on this table; the API's prices can change without a word."""
    if charged == estimated:
        return None
    per_image = credits_per_image(
        options.get("backends") or (), options.get("features") or (), options.get("prompt")
    )
    images = estimated // per_image if per_image else 0
    backends = "+".join(options.get("backends") or ()) or "the default backends"
    what = f"{'+'.join(options.get('features') or ())} with {backends}"
    if images:
        charged_each = f"{charged / images:g}"
        return (
            f"the API charged {charged_each} credits per image where the price table says "
            f"{per_image}, for {what}; estimates may be {'low' if charged > estimated else 'high'}"
        )
    return f"the API charged {charged} credits where the price table says {estimated}, for {what}"


def credits_per_image(
    backends: Iterable[str], features: Iterable[str], prompt: str | None = None
) -> int:
    """Given the active backends and features, return the whole credits one image costs.

    The sum of backend × feature prices, plus one description price per started 2,500
    characters of a custom prompt beyond the first 2,500, rounded up per image.
    """
    active_backends = tuple(backends) or DEFAULT_BACKENDS
    wanted = set(features) or set(FEATURES)
    cents = Decimal(0)
    for backend in active_backends:
        for feature in wanted:
            cents += PRICES.get((backend, feature), Decimal(0))
    if prompt and len(prompt) > PROMPT_BLOCK_CHARS and "descriptions" in wanted:
        extra_blocks = math.ceil((len(prompt) - PROMPT_BLOCK_CHARS) / PROMPT_BLOCK_CHARS)
        for backend in active_backends:
            cents += extra_blocks * _DESCRIPTION_PRICES.get(backend, Decimal(0))
    return math.ceil(cents)
