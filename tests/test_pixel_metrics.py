"""Pixel AUROC and AU-PRO: hand-computed curves, the integration limit, ties, invariances, errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from sklearn.metrics import roc_auc_score

from dra.errors import DraError
from dra.pixel_metrics import aupro, pixel_auroc

T, F = True, False


def rows(*images):
    """Stack 1 x W rows into an N x 1 x W array."""
    return np.array([[row] for row in images])


def pro_points_by_definition(maps, masks, structure=np.ones((3, 3), dtype=int)):
    """(FPR, PRO) at every distinct score, straight from the definition, preceded by (0, 0)."""
    components = []
    for image_map, image_mask in zip(maps, masks):
        labels, n = ndimage.label(image_mask, structure=structure)
        components += [image_map[labels == k] for k in range(1, n + 1)]
    ok = maps[~masks]
    points = [(0.0, 0.0)]
    for t in np.unique(maps)[::-1]:
        points.append((np.mean(ok >= t), np.mean([np.mean(c >= t) for c in components])))
    return points


def aupro_by_definition(maps, masks, limit, structure=np.ones((3, 3), dtype=int)):
    """Segment-by-segment integration of the definition's curve, cut at the limit."""
    area = 0.0
    points = pro_points_by_definition(maps, masks, structure)
    for (x0, y0), (x1, y1) in zip(points[:-1], points[1:]):
        if x1 <= limit:
            area += (x1 - x0) * (y0 + y1) / 2
        else:
            if x0 < limit:
                y_limit = y0 + (y1 - y0) * (limit - x0) / (x1 - x0)
                area += (limit - x0) * (y0 + y_limit) / 2
            break
    return area / limit


# --- pixel AUROC -------------------------------------------------------------------------------


def test_pixel_auroc_matches_sklearn_and_pair_counting():
    rng = np.random.default_rng(0)
    masks = np.zeros((3, 4, 4), dtype=bool)
    masks[0, 1:3, 1:3] = True  # a 2 x 2 defect
    masks[1, 0, :] = True  # a row defect
    # image 2 is defect-free
    maps = np.round(rng.random((3, 4, 4)), 1)  # one decimal: many ties
    maps[masks] += 0.3  # defects score higher on average, but not always
    got = pixel_auroc(maps, masks)
    assert got == pytest.approx(roc_auc_score(masks.ravel(), maps.ravel().astype(np.float32)))
    # AUROC = P(defect score > normal score) + P(tie) / 2 over all (defect, normal) pairs:
    # counted here over the 8 x 40 pairs.
    d = maps[masks].astype(np.float32)[:, None]
    n = maps[~masks].astype(np.float32)[None, :]
    assert got == pytest.approx(np.mean((d > n) + 0.5 * (d == n)))
    assert 0.5 < got < 1.0


def test_pixel_auroc_extremes():
    masks = np.zeros((3, 4, 4), dtype=bool)
    masks[0, :2, :2] = True
    masks[2, 3, 1:] = True
    # the mask itself ranks every defect pixel above every normal pixel: every pair is won
    assert pixel_auroc(masks.astype(float), masks) == 1.0
    # the inverted mask loses every pair
    assert pixel_auroc(1.0 - masks, masks) == 0.0
    # a constant map ties every pair: each counts one half
    assert pixel_auroc(np.full(masks.shape, 0.7), masks) == 0.5


# --- AU-PRO, hand-computed -----------------------------------------------------------------------


def test_aupro_one_row_one_component():
    # One 1 x 4 image, defect pixels 0 and 1: one component of 2 pixels (PRO step 1/2 per
    # pixel), two normal pixels (FPR step 1/2 per pixel).
    masks = rows([T, T, F, F])
    maps = rows([0.9, 0.4, 0.6, 0.1])
    # t=0.9: defect enters -> (0, .5); t=0.6: normal -> (.5, .5); t=0.4: defect -> (.5, 1);
    # t=0.1: normal -> (1, 1). Curve: (0,0) (0,.5) (.5,.5) (.5,1) (1,1).
    # limit .3: the curve is .5 on (0, .5), so area .3 * .5 = .15, normalised .5
    assert aupro(maps, masks, 0.3) == pytest.approx(0.5)
    # limit .75: .5 * .5 on (0, .5) plus .25 * 1 on (.5, .75) = .5, normalised .5 / .75 = 2/3
    assert aupro(maps, masks, 0.75) == pytest.approx(2 / 3)
    # limit 1: .25 + .5 * 1 = .75
    assert aupro(maps, masks, 1.0) == pytest.approx(0.75)

    # Same masks, a normal pixel ranked first: t=0.9: normal -> (.5, 0); t=0.8: defect ->
    # (.5, .5); t=0.2: normal -> (1, .5); t=0.1: defect -> (1, 1).
    maps = rows([0.8, 0.1, 0.9, 0.2])
    # limit .3: the curve is 0 on (0, .5): area 0
    assert aupro(maps, masks, 0.3) == 0.0
    # limit .75: .25 * .5 on (.5, .75) = .125, normalised .125 / .75 = 1/6
    assert aupro(maps, masks, 0.75) == pytest.approx(1 / 6)
    # limit 1: .5 * .5 = .25
    assert aupro(maps, masks, 1.0) == pytest.approx(0.25)


def test_aupro_two_components_of_different_size_in_two_images():
    # Image 0: component A = pixels 0..2 (size 3), pixel 3 normal.
    # Image 1: component B = pixel 1 (size 1), pixels 0, 2, 3 normal.
    # Two components: each A pixel adds 1/(2*3) = 1/6 to PRO, the B pixel 1/(2*1) = 1/2.
    # Four normal pixels: each adds 1/4 to FPR.
    masks = rows([T, T, T, F], [F, T, F, F])
    maps = rows([0.8, 0.6, 0.2, 0.7], [0.3, 0.9, 0.5, 0.1])
    # Descending scores:
    #   .9 B      -> (0,   1/2)
    #   .8 A      -> (0,   2/3)
    #   .7 normal -> (1/4, 2/3)
    #   .6 A      -> (1/4, 5/6)
    #   .5 normal -> (1/2, 5/6)
    #   .3 normal -> (3/4, 5/6)
    #   .2 A      -> (3/4, 1)
    #   .1 normal -> (1,   1)
    # limit .3: 1/4 * 2/3 on (0, 1/4) + .05 * 5/6 on (1/4, .3) = 1/6 + 1/24 = 5/24;
    # normalised (5/24) / .3 = 25/36
    assert aupro(maps, masks, 0.3) == pytest.approx(25 / 36)
    # limit .5: 1/6 + 1/4 * 5/6 = 3/8; normalised 3/4
    assert aupro(maps, masks, 0.5) == pytest.approx(3 / 4)
    # limit 1: 3/8 + 1/4 * 5/6 + 1/4 * 1 = 5/6
    assert aupro(maps, masks, 1.0) == pytest.approx(5 / 6)


def test_aupro_components_are_8_connected_like_mvtec():
    # 2 x 3 mask with a defect pixel touching the others only by a corner:
    #   T F F
    #   F T T
    masks = np.array([[[T, F, F], [F, T, T]]])
    maps = np.array([[[0.9, 0.5, 0.4], [0.3, 0.8, 0.1]]])
    # Scores descending: .9 defect (0,0), .8 defect (1,1), .5 .4 .3 normal, .1 defect (1,2).
    # 8-connectivity (MVTec AD): one component of 3 pixels, 1/3 per pixel:
    #   (0,1/3) (0,2/3) (1/3,2/3) (2/3,2/3) (1,2/3) (1,1): flat at 2/3 up to .3 -> 2/3
    assert aupro(maps, masks, 0.3) == pytest.approx(2 / 3)
    # 4-connectivity: components {(0,0)} (1/2 per pixel) and {(1,1),(1,2)} (1/4 per pixel):
    #   (0,1/2) (0,3/4) (1/3,3/4) ... : flat at 3/4 up to .3 -> 3/4
    assert aupro(maps, masks, 0.3, connectivity=4) == pytest.approx(3 / 4)


def test_aupro_extremes():
    rng = np.random.default_rng(1)
    masks = np.zeros((4, 8, 8), dtype=bool)
    masks[0, 1:4, 2:6] = True
    masks[1, 5:7, 0:2] = True
    masks[1, 0, 7] = True
    # images 2 and 3 are defect-free
    # Perfect map: all defect pixels enter first, the curve goes (0,0) -> (0,1) -> (1,1),
    # so it is 1 on the whole interval: 1 for every limit.
    perfect = np.where(masks, 1 + rng.random(masks.shape), rng.random(masks.shape))
    for limit in (0.05, 0.3, 1.0):
        assert aupro(perfect, masks, limit) == pytest.approx(1.0)
    # Every normal pixel above every defect pixel: (0,0) -> (1,0) -> (1,1), 0 on [0, 1).
    worst = np.where(masks, rng.random(masks.shape), 2 + rng.random(masks.shape))
    assert aupro(worst, masks, 0.3) == 0.0
    # Constant map: one threshold, everything enters at once: (0,0) -> (1,1), the diagonal.
    # At FPR .3 the curve is .3, area .3 * .3 / 2 = .045, normalised .15; up to 1: .5.
    constant = np.full(masks.shape, 0.25)
    assert aupro(constant, masks, 0.3) == pytest.approx(0.15)
    assert aupro(constant, masks, 1.0) == pytest.approx(0.5)


def test_integration_stops_at_the_limit_where_a_naive_one_exceeds_1():
    # 1 x 3 image: defect pixels 0, 1 (one component of 2: 1/2 per pixel), normal pixel 2.
    masks = rows([T, T, F])
    maps = rows([0.9, 0.5, 0.5])
    # t=.9: (0, .5); t=.5: the defect pixel 1 and the normal pixel enter together: (1, 1).
    # Curve: (0,0) (0,.5) (1,1). At FPR .3 it is .5 + .5 * .3 = .65;
    # area .3 * (.5 + .65) / 2 = .1725, normalised .575.
    expected = 0.575

    def naive_aupro(limit):
        """Trapezoids up to and including the first point beyond the limit, divided by it."""
        points = pro_points_by_definition(maps, masks)
        k = next(i for i, (x, _) in enumerate(points) if x > limit)
        x, y = np.array(points[: k + 1]).T
        return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2) / limit)

    # The naive area runs to FPR 1: (.5 + 1) / 2 = .75, divided by .3: 2.5
    assert naive_aupro(0.3) == pytest.approx(2.5)
    assert naive_aupro(0.3) > 1
    got = aupro(maps, masks, 0.3)
    assert got <= 1
    assert got == pytest.approx(expected)


def test_tied_defect_and_normal_pixels_enter_at_the_same_threshold():
    # 1 x 4 image: defect pixels 0, 1 (one component, 1/2 per pixel), normal pixels 2, 3.
    masks = rows([T, T, F, F])
    maps = rows([0.9, 0.5, 0.5, 0.1])
    # t=.9: (0, .5); t=.5: defect pixel 1 and normal pixel 2 together: (.5, 1); t=.1: (1, 1).
    # At FPR .3 the segment (0,.5)-(.5,1) is at .8; area .3 * (.5 + .8) / 2 = .195 -> .65.
    # Breaking the tie defect-first would give 1.0, normal-first .5.
    assert aupro(maps, masks, 0.3) == pytest.approx(0.65)
    # up to 1: .5 * (.5 + 1) / 2 + .5 * 1 = .875
    assert aupro(maps, masks, 1.0) == pytest.approx(0.875)


def test_aupro_matches_the_definition_on_random_maps_with_ties():
    rng = np.random.default_rng(2)
    for _ in range(5):
        masks = rng.random((4, 7, 9)) < 0.25
        masks[3] = False  # a defect-free image
        maps = rng.integers(0, 12, masks.shape) / 12  # 12 levels: many ties
        maps = maps + 0.2 * masks
        for limit in (0.02, 0.3, 0.7, 1.0):
            assert aupro(maps, masks, limit) == pytest.approx(
                aupro_by_definition(maps, masks, limit), abs=1e-12)
            cross = ndimage.generate_binary_structure(2, 1)
            assert aupro(maps, masks, limit, connectivity=4) == pytest.approx(
                aupro_by_definition(maps, masks, limit, cross), abs=1e-12)


# --- invariances ---------------------------------------------------------------------------------


def test_metrics_ignore_monotone_transforms_and_image_order():
    rng = np.random.default_rng(3)
    masks = np.zeros((5, 12, 12), dtype=bool)
    masks[0, 2:5, 3:9] = True
    masks[1, 7:11, 7:11] = True
    masks[1, 0, 0:3] = True
    masks[3, 5:6, 1:2] = True
    maps = rng.integers(0, 40, masks.shape) / 40 + 0.3 * masks  # ties, spaced 1/40 apart
    order = rng.permutation(len(maps))
    variants = [(np.exp(maps), masks), (3 * maps - 7, masks), (maps[order], masks[order])]
    for other_maps, other_masks in variants:
        assert pixel_auroc(other_maps, other_masks) == pytest.approx(pixel_auroc(maps, masks), abs=1e-12)
        for limit in (0.1, 0.3, 1.0):
            assert aupro(other_maps, other_masks, limit) == pytest.approx(
                aupro(maps, masks, limit), abs=1e-12)


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", [pixel_auroc, aupro])
def test_bad_inputs_raise_dra_error(metric):
    masks = np.zeros((2, 4, 4), dtype=bool)
    masks[0, 1, 1] = True
    maps = np.zeros((2, 4, 4))
    with pytest.raises(DraError, match="differ in shape"):
        metric(np.zeros((2, 4, 5)), masks)
    with pytest.raises(DraError, match="N x H x W"):
        metric(maps[0], masks[0])
    with pytest.raises(DraError, match="boolean"):
        metric(maps, masks.astype(np.uint8))
    for bad in (np.nan, np.inf, -np.inf):
        spoiled = maps.copy()
        spoiled[1, 2, 3] = bad
        with pytest.raises(DraError, match="NaN or infinite"):
            metric(spoiled, masks)
    with pytest.raises(DraError, match="no defect pixel"):
        metric(maps, np.zeros_like(masks))
    with pytest.raises(DraError, match="no defect-free pixel"):
        metric(maps, np.ones_like(masks))


def test_aupro_rejects_bad_limits_and_connectivity():
    masks = rows([T, F])
    maps = rows([0.9, 0.1])
    for limit in (0.0, -0.1, 1.5, float("nan")):
        with pytest.raises(DraError, match="fpr_limit"):
            aupro(maps, masks, limit)
    with pytest.raises(DraError, match="connectivity"):
        aupro(maps, masks, connectivity=6)


# --- size ----------------------------------------------------------------------------------------


def test_aupro_runs_on_benchmark_sized_maps():
    rng = np.random.default_rng(4)
    masks = np.zeros((50, 256, 256), dtype=bool)
    for i in range(25):  # half the images carry one or two rectangular defects
        for _ in range(1 + i % 2):
            y, x = rng.integers(0, 220, 2)
            h, w = rng.integers(4, 36, 2)
            masks[i, y:y + h, x:x + w] = True
    maps = rng.random(masks.shape, dtype=np.float32)
    # scores independent of the masks: every component's PRO curve is close to the diagonal,
    # so the value is close to the constant map's .15
    assert aupro(maps, masks) == pytest.approx(0.15, abs=0.02)
