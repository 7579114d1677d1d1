"""Ground truth for notebook 07: the synthetic shapes, the small CNN, the localisation scores.

Metrics on hand-built maps with known answers; the data set on its promises (seeded,
balanced, masks = the drawn object); the shipped CNN on its digest and accuracy.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

import course_lib as course
from course_lib.data import synthetic
from course_lib.models import small_cnn
from course_lib.evaluation.localisation import area_fraction, dilate


# --- metrics ---------------------------------------------------------------------------------

def square_masks() -> torch.Tensor:
    """Two 8 × 8 images: a 2 × 2 square at the top left, a 3 × 4 block at the bottom right."""
    masks = torch.zeros(2, 8, 8, dtype=torch.bool)
    masks[0, 1:3, 1:3] = True
    masks[1, 5:8, 4:8] = True
    return masks


def test_perfect_map_scores_one():
    masks = square_masks()
    maps = masks.float()
    torch.testing.assert_close(course.mass_inside_mask(maps, masks), torch.ones(2))
    # every tied maximum lies on the mask
    torch.testing.assert_close(course.pointing_game(maps, masks), torch.ones(2))


def test_map_outside_the_mask_scores_zero():
    masks = square_masks()
    maps = (~masks).float() * torch.rand(2, 8, 8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(course.mass_inside_mask(maps, masks), torch.zeros(2))
    torch.testing.assert_close(course.pointing_game(maps, masks), torch.zeros(2))


def test_uniform_map_scores_the_area_fraction():
    masks = square_masks()
    expected = torch.tensor([4 / 64, 12 / 64])
    for maps in (torch.full((2, 8, 8), 0.3), torch.zeros(2, 8, 8)):  # zero mass → area fraction
        torch.testing.assert_close(course.mass_inside_mask(maps, masks), expected)
        torch.testing.assert_close(course.pointing_game(maps, masks), expected)  # ties shared
    torch.testing.assert_close(area_fraction(masks).float(), expected)


def test_mass_absolute_vs_positive():
    masks = square_masks()[:1]
    maps = torch.zeros(1, 8, 8)
    maps[0, 1, 1] = 3.0    # on the mask
    maps[0, 6, 6] = -1.0   # off the mask, negative
    assert course.mass_inside_mask(maps, masks, mass="absolute").item() == pytest.approx(0.75)
    assert course.mass_inside_mask(maps, masks, mass="positive").item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="unknown mass"):
        course.mass_inside_mask(maps, masks, mass="energy")


def brute_force_auc(values: torch.Tensor, mask: torch.Tensor) -> float:
    """P(evidence pixel > background pixel) + ½ P(tie), by comparing every pair."""
    positive, negative = values[mask].double(), values[~mask].double()
    greater = (positive[:, None] > negative[None, :]).double().mean()
    ties = (positive[:, None] == negative[None, :]).double().mean()
    return float(greater + 0.5 * ties)


def test_roc_auc_of_perfect_inverted_and_constant_maps():
    masks = square_masks()
    torch.testing.assert_close(course.mask_roc_auc(masks.float(), masks), torch.ones(2))
    torch.testing.assert_close(course.mask_roc_auc((~masks).float(), masks), torch.zeros(2))
    torch.testing.assert_close(course.mask_roc_auc(torch.full((2, 8, 8), 0.7), masks),
                               torch.full((2,), 0.5))


def test_roc_auc_equals_the_pairwise_probability():
    masks = square_masks()
    generator = torch.Generator().manual_seed(0)
    # integer values: many ties, which must count one half
    maps = torch.randint(0, 4, (2, 8, 8), generator=generator).float() + masks.float()
    got = course.mask_roc_auc(maps, masks)
    expected = torch.tensor([brute_force_auc(m, k) for m, k in zip(maps, masks)])
    torch.testing.assert_close(got, expected.float())


def test_roc_auc_depends_on_the_order_only():
    masks = square_masks()
    maps = torch.rand(2, 8, 8, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(course.mask_roc_auc(maps, masks),
                               course.mask_roc_auc(torch.exp(5 * maps) - 3, masks))


def test_roc_auc_refuses_a_mask_without_background():
    with pytest.raises(ValueError, match="whole image"):
        course.mask_roc_auc(torch.rand(1, 4, 4), torch.ones(1, 4, 4, dtype=torch.bool))


def test_pointing_game_tolerance():
    masks = square_masks()[:1]                  # rows/cols 1–2
    maps = torch.zeros(1, 8, 8)
    maps[0, 5, 2] = 1.0                          # 3 rows below the mask's last row
    assert course.pointing_game(maps, masks).item() == 0.0
    assert course.pointing_game(maps, masks, tolerance=2).item() == 0.0
    assert course.pointing_game(maps, masks, tolerance=3).item() == 1.0
    grown = dilate(masks, 1)
    assert grown.sum().item() == 4 + 4 * 2      # a plus-shaped growth: no diagonal corners
    with pytest.raises(ValueError, match="tolerance"):
        course.pointing_game(maps, masks, tolerance=-1)


def test_attributions_are_aggregated_over_channels():
    masks = square_masks()
    attribution = torch.zeros(2, 3, 8, 8)
    attribution[0, 2, 1, 2] = -5.0   # on the mask, in the blue channel, negative
    attribution[1, 0, 0, 0] = 1.0    # off the mask
    torch.testing.assert_close(course.pointing_game(attribution, masks), torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(course.mass_inside_mask(attribution, masks),
                               torch.tensor([1.0, 0.0]))
    # with a signed sum the negative evidence has no positive mass → area fraction
    torch.testing.assert_close(
        course.mass_inside_mask(attribution, masks, mass="positive", aggregate="sum"),
        torch.tensor([4 / 64, 0.0]))


def test_batched_scores_equal_one_by_one():
    masks = square_masks()
    maps = torch.rand(2, 8, 8, generator=torch.Generator().manual_seed(1))
    batch = course.mass_inside_mask(maps, masks)
    single = torch.cat([course.mass_inside_mask(maps[i:i + 1], masks[i:i + 1]) for i in range(2)])
    torch.testing.assert_close(batch, single)


@pytest.mark.parametrize("maps, masks, error, match", [
    (torch.zeros(2, 8, 8), torch.zeros(2, 8, 7, dtype=torch.bool), ValueError, "differ in shape"),
    (torch.zeros(3, 8, 8), torch.ones(2, 8, 8, dtype=torch.bool), ValueError, "differ in shape"),
    (torch.zeros(8, 8), torch.ones(8, 8, dtype=torch.bool), ValueError, "batch dimension"),
    (torch.zeros(2, 8, 8), torch.ones(2, 8, 8), TypeError, "boolean"),
    (torch.zeros(2, 8, 8), torch.zeros(2, 8, 8, dtype=torch.bool), ValueError, "empty"),
    (torch.full((2, 8, 8), float("nan")), torch.ones(2, 8, 8, dtype=torch.bool), ValueError,
     "NaN"),
    (np.zeros((2, 8, 8)), torch.ones(2, 8, 8, dtype=torch.bool), TypeError, "torch.Tensor"),
    (torch.zeros(2, 4, 8, 8), torch.ones(2, 8, 8, dtype=torch.bool), ValueError, "3, H, W"),
])
def test_bad_input_is_refused(maps, masks, error, match):
    for metric in (course.pointing_game, course.mass_inside_mask):
        with pytest.raises(error, match=match):
            metric(maps, masks)


# --- synthetic data --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shapes() -> synthetic.ShapesData:
    return course.make_shapes(200, seed=5)


def test_same_seed_same_data_other_seed_other_data(shapes):
    again = course.make_shapes(200, seed=5)
    for a, b in zip(shapes, again):
        assert torch.equal(a, b)
    other = course.make_shapes(200, seed=6)
    assert not torch.equal(shapes.images, other.images)
    state = np.random.get_state()[1].copy()
    torch_state = torch.get_rng_state()
    course.make_shapes(4, seed=0)
    assert np.array_equal(np.random.get_state()[1], state)   # no global random state used
    assert torch.equal(torch.get_rng_state(), torch_state)


def test_shapes_types_ranges_and_balance(shapes):
    images, labels, masks = shapes
    assert images.shape == (200, 3, 64, 64) and images.dtype == torch.float32
    assert labels.shape == (200,) and labels.dtype == torch.int64
    assert masks.shape == (200, 64, 64) and masks.dtype == torch.bool
    assert 0 <= images.min() and images.max() <= 1
    assert torch.bincount(labels, minlength=4).tolist() == [50, 50, 50, 50]
    assert synthetic.CLASS_NAMES == ("cross", "ring", "triangle", "square")


def test_masks_are_non_empty_and_inside_the_image(shapes):
    area = shapes.masks.flatten(1).sum(dim=1)
    assert area.min() >= 50 and area.max() <= 25 * 25
    # the object never touches the border: 1 pixel of margin all round
    border = torch.ones(64, 64, dtype=torch.bool)
    border[1:-1, 1:-1] = False
    assert not (shapes.masks & border).any()


def test_mask_pixels_have_one_colour_the_object(shapes):
    images, _, masks = shapes
    for image, mask in zip(images[:20], masks[:20]):
        colours = image[:, mask]                                 # (3, pixels)
        assert (colours - colours[:, :1]).abs().max() == 0      # uniformly painted
        assert ((colours[:, 0] <= 0.15) | (colours[:, 0] >= 0.85)).all()   # vivid


def test_labels_match_the_drawn_shape(shapes):
    """Each mask is the class's shape: check features that only that shape has."""
    images, labels, masks = shapes
    for label, mask in zip(labels.tolist(), masks):
        rows, cols = mask.nonzero(as_tuple=True)
        top, bottom, left, right = rows.min(), rows.max(), cols.min(), cols.max()
        box = mask[top:bottom + 1, left:right + 1]
        fill = box.float().mean().item()
        centre = box[box.shape[0] // 2, box.shape[1] // 2].item()
        corner = box[0, 0].item() or box[0, -1].item() or box[-1, 0].item() or box[-1, -1].item()
        name = synthetic.CLASS_NAMES[label]
        if name == "square":
            assert fill == 1.0
        elif name == "ring":
            assert not centre and not corner and 0.3 < fill < 0.75
        elif name == "cross":
            assert centre and not corner and 0.3 < fill < 0.7
        else:  # triangle: two box corners filled (its base), centre filled
            corners = [box[0, 0], box[0, -1], box[-1, 0], box[-1, -1]]
            assert centre and sum(bool(c) for c in corners) == 2 and 0.4 < fill < 0.65


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least 1"):
        course.make_shapes(0)
    with pytest.raises(TypeError, match="n must be an int"):
        course.make_shapes(2.5)


# --- the small CNN ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cnn() -> torch.nn.Module:
    return course.load_small_cnn()


def test_shipped_weights_match_their_digest():
    data = small_cnn.WEIGHTS_PATH.read_bytes()
    assert hashlib.sha256(data).hexdigest() == small_cnn.SMALL_CNN_SHA256
    assert len(data) < 2 * 1024 * 1024


def test_damaged_weights_are_refused(tmp_path):
    damaged = tmp_path / "small_cnn.pt"
    data = bytearray(small_cnn.WEIGHTS_PATH.read_bytes())
    data[len(data) // 2] ^= 0xFF                              # one byte flipped
    damaged.write_bytes(bytes(data))
    with pytest.raises(course.WeightsUnavailableError, match="SHA-256"):
        course.load_small_cnn(path=damaged)
    with pytest.raises(course.WeightsUnavailableError, match="not found"):
        course.load_small_cnn(path=tmp_path / "missing.pt")


def test_loaded_model_is_in_eval_mode_with_relu_modules(cnn):
    assert not cnn.training
    assert isinstance(cnn.get_submodule(small_cnn.CAM_LAYER), torch.nn.ReLU)
    assert sum(isinstance(m, torch.nn.ReLU) for m in cnn.modules()) == 4


def test_accuracy_on_a_fresh_test_set(cnn):
    images, labels, _ = course.make_shapes(500, seed=12345)   # neither training nor test seed
    assert small_cnn.accuracy(cnn, images, labels) >= 0.95


def test_training_is_reproducible():
    first = small_cnn.train_small_cnn(seed=3, n_train=64, max_steps=2, progress=False)
    second = small_cnn.train_small_cnn(seed=3, n_train=64, max_steps=2, progress=False)
    assert small_cnn.state_dict_bytes(first) == small_cnn.state_dict_bytes(second)
    third = small_cnn.train_small_cnn(seed=4, n_train=64, max_steps=2, progress=False)
    assert small_cnn.state_dict_bytes(first) != small_cnn.state_dict_bytes(third)


def test_every_method_runs_on_the_small_cnn(cnn):
    images, labels, _ = course.make_shapes(4, seed=7)
    layer = small_cnn.CAM_LAYER
    results = {
        "vanilla_gradient": course.vanilla_gradient(cnn, images, labels),
        "gradient_x_input": course.gradient_x_input(cnn, images, labels),
        "deconvnet": course.deconvnet(cnn, images, labels),
        "guided_backprop": course.guided_backprop(cnn, images, labels),
        "grad_cam": course.grad_cam(cnn, images, labels, layer),
        "grad_cam_plus_plus": course.grad_cam_plus_plus(cnn, images, labels, layer),
        "guided_grad_cam": course.guided_grad_cam(cnn, images, labels, layer),
        "smoothgrad": course.smoothgrad(cnn, images, labels, n_samples=4, progress=False),
        "integrated_gradients": course.integrated_gradients(cnn, images, labels, steps=4,
                                                            progress=False),
        "occlusion": course.occlusion(cnn, images, labels, patch=8, stride=4, progress=False),
    }
    for name, attribution in results.items():
        assert attribution.shape[-2:] == (64, 64), name
        assert torch.isfinite(attribution).all(), name
        assert attribution.abs().sum() > 0, name
    assert not cnn.training
