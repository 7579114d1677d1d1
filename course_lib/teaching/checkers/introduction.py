"""Checkers for the exercises of notebook 00 · introduction."""

from __future__ import annotations

from course_lib.teaching.checkers.common import (
    Mismatch,
    verdict,
)


def attribution_size(attribution_numbers: int, map_numbers: int) -> bool:
    """00 · Exercise 1: how many numbers in the attribution of 4 photos, and in its 2-D maps?"""
    def run() -> str:
        expected = (4 * 3 * 224 * 224, 4 * 224 * 224)
        if attribution_numbers != expected[0]:
            raise Mismatch(f"the attribution has {expected[0]:,} numbers, not "
                           f"{attribution_numbers:,}: it has the shape of the input batch, "
                           "(4, 3, 224, 224)")
        if map_numbers != expected[1]:
            raise Mismatch(f"the maps have {expected[1]:,} numbers, not {map_numbers:,}: the "
                           "absolute map keeps one number per pixel, (4, 224, 224)")
        return "the map drops the colour axis, so it has a third of the numbers"
    return verdict("attribution size", run)


