"""The faster forms of the ink helpers give exactly what the plain NumPy forms gave (scanner/ingest/ink.py)."""

from __future__ import annotations

import numpy as np
import pytest

from scanner.ingest.ink import darkness, percentile_u8


@pytest.mark.parametrize("shape", [(1,), (2,), (7,), (40, 90), (1, 300)])
@pytest.mark.parametrize("q", [0, 10, 50, 90, 99.7, 100])
def test_percentile_with_a_mask_is_the_percentile_of_the_masked_values(shape, q):
    rng = np.random.default_rng(len(shape) * 100 + int(q))
    values = rng.integers(0, 256, shape).astype(np.uint8)
    where = rng.random(shape) < 0.4
    where.flat[0] = True
    assert percentile_u8(values, q) == pytest.approx(float(np.percentile(values, q)), abs=1e-9)
    assert percentile_u8(values, q, where=where) == pytest.approx(float(np.percentile(values[where], q)), abs=1e-9)


def test_percentile_of_nothing_is_refused():
    with pytest.raises(ValueError):
        percentile_u8(np.zeros((3, 3), np.uint8), 50, where=np.zeros((3, 3), bool))


def test_darkness_is_paper_minus_pixel_clipped():
    rng = np.random.default_rng(5)
    for _ in range(20):
        gray = rng.integers(0, 256, (30, 50)).astype(np.uint8)
        gray[rng.random(gray.shape) < 0.5] = rng.integers(150, 256)  # paper
        paper = percentile_u8(gray, 90)
        want = np.clip(paper - gray.astype(np.int16), 0, 255).astype(np.uint8)
        assert np.array_equal(darkness(gray), want)
