from __future__ import annotations

from visionati_sync.api.catalog import credits_per_image


def test_documented_example_clarifai_and_openai_is_three_credits() -> None:
    # 0.15 (tags) + 0.15 (nsfw) + 2.00 (descriptions) = 2.30 ¢ → 3 credits
    assert credits_per_image(["clarifai", "openai"], ["tags", "nsfw", "descriptions"]) == 3


def test_default_backends_with_tags_and_descriptions() -> None:
    # claude 3 + gemini 1 + grok 2 + openai 2 + clarifai .15 + googlevision .2 + rekognition .15
    assert credits_per_image([], ["tags", "descriptions"]) == 9


def test_long_prompts_add_a_description_price_per_block() -> None:
    assert credits_per_image(["openai"], ["descriptions"], "x" * 2500) == 2
    assert credits_per_image(["openai"], ["descriptions"], "x" * 2501) == 4
    assert credits_per_image(["openai"], ["descriptions"], "x" * 5001) == 6
