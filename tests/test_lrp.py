"""LRP against Captum 0.9.0's ``LRP`` and zennit 0.5.1, against closed forms, and its bookkeeping.

Convention mapping (reference → course_lib):

* **Captum, ε:** ``EpsilonRule(ε)`` adds ε·sign(z) (sign 0 → +1) to each layer's output, the
  bias included in z — our ``Epsilon(ε)``. Captum's default ε is 1e-9 (≈ LRP-0).
* **Captum, γ and α1β0:** ``GammaRule`` changes the weights to w + γw⁺ and leaves the bias;
  Montavon et al. 2019 (their Σ over j includes the bias, j = 0), zennit and we use b + γb⁺.
  ``Alpha1_Beta0_Rule`` uses w⁺ and the bias as it is; Bach et al.'s z⁺, zennit and we use b⁺.
  Captum's rules are subclassed here to treat the bias like the weights (two lines). Our γ
  favours the negative contributions of a *negative* output (zennit's generalisation); in the
  VGG-style net every convolution feeds a ReLU, so negative outputs carry no relevance and the
  two agree. Captum's α1β0 uses w⁺ whatever the sign of the input; ours takes the positive
  *contributions*: equal for inputs ≥ 0, so the first layer (signed pixels) gets ε there.
* **Captum, BatchNorm:** Captum gives a BatchNorm its own ε rule; we fold it into the
  convolution before it. Captum therefore gets a copy folded by PyTorch's own
  ``torch.nn.utils.fusion.fuse_conv_bn_eval``.
* **Captum, model plumbing:** its hooks cannot follow an in-place ReLU (copy with
  ``inplace=False``), need a rule for every leaf module, and lose relevance on a tensor that two
  hooked modules share. On EfficientNet-Lite0: the normalisation and ReLU6 get
  ``IdentityRule`` (relevance passes unchanged: our convention for both), each skip connection
  becomes Captum's ``Addition_Module`` (ε rule: the sum's relevance split in proportion to the
  two inputs, our LRP-0 through the sum), and the ``nn.Identity`` of block 0 a ``+ 0`` module.
  Captum's attribution is the relevance at the model input; behind ``IdentityRule`` that is the
  relevance at the stem convolution's input, as ours.
* **zennit:** ``ResNetCanonizer`` folds BatchNorm and turns each residual sum into a ``Sum``
  module with the ``Norm`` rule (proportional split with a 1e-6 stabiliser; ours has none:
  tolerance), ReLU gets ``Pass``; ``ZBox``, ``Gamma`` (generalised), ``ZPlus``, ``Epsilon`` are
  our rules with the bias treated as above. zennit starts from the output gradient it is given:
  ``logits ⊙ one-hot`` so that the top relevance is z_c, as ours. zennit's hooks get a copy
  with ``inplace=False``.
"""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
import torchvision
from torch import nn

import course_lib as course
from course_lib.methods.lrp_rules import Composite, Epsilon, Gamma, ZBox, Zero, ZPlus

from relevance_nets import (Fresh, VGGStyle, captum_lite0_lrp, captum_resnet, out_of_place,
                            randomise_batchnorm, scaled_images)

captum_attr = pytest.importorskip("captum.attr")
from captum.attr import LRP  # noqa: E402
from captum.attr._utils.lrp_rules import (Alpha1_Beta0_Rule, EpsilonRule,  # noqa: E402
                                          GammaRule, IdentityRule)
from torch.nn.utils.fusion import fuse_conv_bn_eval  # noqa: E402

TARGETS = [1, 3, 5]


def close(ours: torch.Tensor, theirs: torch.Tensor, rtol: float = 1e-4) -> None:
    scale = float(theirs.detach().abs().max())
    assert scale > 0
    torch.testing.assert_close(ours, theirs.detach(), rtol=rtol, atol=rtol * scale)


# ----------------------------------------------------------------------------- Captum, VGG


class GammaOnBiasToo(GammaRule):
    def _manipulate_weights(self, module, inputs, outputs):
        super()._manipulate_weights(module, inputs, outputs)
        module.bias.data = module.bias.data + self.gamma * module.bias.data.clamp(min=0)


class ZPlusOnBiasToo(Alpha1_Beta0_Rule):
    def _manipulate_weights(self, module, inputs, outputs):
        super()._manipulate_weights(module, inputs, outputs)
        module.bias.data = module.bias.data.clamp(min=0)


def folded_for_captum(model: VGGStyle) -> VGGStyle:
    """PyTorch's own BatchNorm folding; the BatchNorm becomes a (rule-less) no-op."""
    model = out_of_place(model)
    layers = list(model.features)
    for i, layer in enumerate(layers):
        if isinstance(layer, nn.BatchNorm2d):
            layers[i - 1] = fuse_conv_bn_eval(layers[i - 1], layer)
            layers[i] = None
    model.features = nn.Sequential(*[layer for layer in layers if layer is not None])
    return model


def captum_lrp(model: VGGStyle, x: torch.Tensor, rules: list) -> torch.Tensor:
    model = folded_for_captum(model)
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    for layer, rule in zip(layers, rules, strict=True):
        layer.rule = rule
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return LRP(model).attribute(x.clone(), target=TARGETS)


# five rule layers: conv, conv, conv, linear, linear
CAPTUM_CASES = {
    "epsilon": (Epsilon(0.25), lambda: [EpsilonRule(0.25) for _ in range(5)]),
    "zero": (Epsilon(1e-9), lambda: [EpsilonRule(1e-9) for _ in range(5)]),
    "gamma": (Composite(Epsilon(1e-9), Gamma(0.25, 1e-9), Gamma(0.25, 1e-9), Gamma(0.25, 1e-9),
                        dense=Epsilon(1e-9)),
              lambda: [EpsilonRule(1e-9), GammaOnBiasToo(0.25), GammaOnBiasToo(0.25),
                       EpsilonRule(1e-9), EpsilonRule(1e-9)]),
    "zplus": (Composite(Epsilon(1e-9), ZPlus(1e-9), ZPlus(1e-9), ZPlus(1e-9),
                        dense=Epsilon(0.25)),
              lambda: [EpsilonRule(1e-9), ZPlusOnBiasToo(), ZPlusOnBiasToo(),
                       EpsilonRule(0.25), EpsilonRule(0.25)]),
}


@pytest.mark.parametrize("case", list(CAPTUM_CASES))
def test_matches_captum_on_a_vgg_style_network(case):
    """In-place ReLUs, BatchNorm, max and average pooling; three images with different pixel
    ranges (none [0, 1]) and a different target each."""
    model = VGGStyle()
    x = scaled_images(3)
    ours_rule, their_rules = CAPTUM_CASES[case]
    ours = course.lrp(model, x, TARGETS, composite=ours_rule, progress=False)
    assert ours.shape == x.shape
    close(ours, captum_lrp(model, x, their_rules()))


def test_captum_gamma_without_bias_needs_no_mapping():
    """Without biases Captum's own GammaRule and Alpha1_Beta0_Rule are ours."""
    model = VGGStyle(batchnorm=False, bias=False)
    x = scaled_images(3)
    for ours_rule, theirs in ((Gamma(0.5, 1e-9), lambda: GammaRule(0.5)),
                              (ZPlus(1e-9), Alpha1_Beta0_Rule)):
        composite = Composite(Epsilon(1e-9), ours_rule, ours_rule, ours_rule, dense=Epsilon(1e-9))
        rules = [EpsilonRule(1e-9), theirs(), theirs(), EpsilonRule(1e-9), EpsilonRule(1e-9)]
        close(course.lrp(model, x, TARGETS, composite=composite, progress=False),
              captum_lrp(model, x, rules))


# ----------------------------------------------------------------------------- Captum, Lite0


def test_matches_captum_on_efficientnet_lite0(lite0, photos):
    """ε = 0.25 on the model as it is: BatchNorm folding, ReLU6, depthwise convolutions, average
    pooling, skip connections and the normalisation, all at once."""
    targets = [285, 967, 657]
    ours = course.lrp(lite0, photos, targets, composite=Epsilon(0.25), progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = LRP(captum_lite0_lrp(lite0, lambda: EpsilonRule(0.25))[0]).attribute(
            photos.clone(), target=targets)
    close(ours, theirs)


def test_lrp_zero_matches_captum_on_folded_lite0(lite0, photos):
    """ε → 0 on the copy that Captum folded itself: LRP-0's small denominators would magnify
    the last-bit differences of two foldings (about 0.5 % here), so both see the same weights."""
    targets = [285, 967, 657]
    folded, _ = captum_lite0_lrp(lite0, lambda: EpsilonRule(1e-9))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = LRP(folded).attribute(photos.clone(), target=targets)
    ours = course.lrp(folded, photos, targets, composite=Epsilon(1e-9), progress=False)
    close(ours, theirs)


# ----------------------------------------------------------------------------- zennit, ResNet

zennit = pytest.importorskip("zennit")
from zennit.attribution import Gradient  # noqa: E402
from zennit.composites import (EpsilonGammaBox, NameLayerMapComposite,  # noqa: E402
                               SpecialFirstLayerMapComposite, layer_map_base)
from zennit.rules import Epsilon as ZennitEpsilon  # noqa: E402
from zennit.rules import Gamma as ZennitGamma  # noqa: E402
from zennit.rules import ZBox as ZennitZBox  # noqa: E402
from zennit.rules import ZPlus as ZennitZPlus  # noqa: E402
from zennit.torchvision import ResNetCanonizer  # noqa: E402
from zennit.types import Convolution  # noqa: E402


@pytest.fixture(scope="module")
def resnet() -> nn.Module:
    """ResNet-18, random weights, in-place ReLUs, BatchNorm statistics far from the identity."""
    torch.manual_seed(0)
    return randomise_batchnorm(torchvision.models.resnet18(weights=None).eval(), seed=3)


def resnet_images() -> torch.Tensor:
    """Two 64 × 48 images, pixels in [0, 2] and [0.5, 1.5]: inside the box [0, 2]."""
    generator = torch.Generator().manual_seed(7)
    x = torch.rand(2, 3, 64, 48, generator=generator)
    return x * torch.tensor([2.0, 1.0]).view(2, 1, 1, 1) + torch.tensor([0.0, 0.5]).view(2, 1, 1, 1)


def zennit_lrp(model: nn.Module, x: torch.Tensor, targets: list[int], composite) -> torch.Tensor:
    model = out_of_place(model)
    one_hot = torch.eye(1000)[targets]
    with Gradient(model, composite) as attributor:
        _, relevance = attributor(x.clone(), lambda output: output * one_hot)
    return relevance


def test_matches_captum_on_resnet(resnet):
    """LRP-ε on ResNet-18 against Captum too: its copy has BatchNorm folded by PyTorch, one
    ReLU module per use and the residual sums as ``Addition_Module`` (ε rule ≈ LRP-0 split)."""
    x, targets = resnet_images(), [3, 7]
    model = captum_resnet(resnet)
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            module.rule = EpsilonRule(0.25)
        elif isinstance(module, Fresh):
            module.rule = IdentityRule()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = LRP(model).attribute(x.clone(), target=targets)
    ours = course.lrp(resnet, x, targets, composite=Epsilon(0.25), progress=False)
    close(ours, theirs)


def test_matches_zennit_epsilon_gamma_box_on_resnet(resnet):
    x, targets = resnet_images(), [3, 7]
    theirs = zennit_lrp(resnet, x, targets,
                        EpsilonGammaBox(low=0.0, high=2.0, canonizers=[ResNetCanonizer()]))
    gamma = Gamma(0.25)
    ours = course.lrp(resnet, x, targets, progress=False,
                      composite=Composite(ZBox(0.0, 2.0), gamma, gamma, gamma, dense=Epsilon()))
    close(ours, theirs, rtol=1e-3)


def test_matches_zennit_box_zplus_epsilon_on_resnet(resnet):
    x, targets = resnet_images(), [3, 7]
    composite = SpecialFirstLayerMapComposite(
        layer_map=layer_map_base() + [(Convolution, ZennitZPlus()),
                                      (nn.Linear, ZennitEpsilon(0.25))],
        first_map=[(Convolution, ZennitZBox(0.0, 2.0))], canonizers=[ResNetCanonizer()])
    theirs = zennit_lrp(resnet, x, targets, composite)
    ours = course.lrp(resnet, x, targets, progress=False, composite=Composite(
        ZBox(0.0, 2.0), ZPlus(), ZPlus(), ZPlus(), dense=Epsilon(0.25)))
    close(ours, theirs, rtol=1e-3)


def test_composite_by_depth_matches_zennit_rules_by_name(resnet):
    """Rules by depth: the test assigns zennit's rules by name, in the order the layers are
    registered (which is the forward order in torchvision's ResNet): thirds of the layers
    after the first."""
    x, targets = resnet_images(), [3, 7]
    names = [name for name, m in resnet.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    rest = len(names) - 1
    name_map = [((names[0],), ZennitZBox(0.0, 2.0))]
    for i, name in enumerate(names[1:]):
        rule = (ZennitGamma(0.5) if i < rest / 3 else ZennitEpsilon(0.1) if i < 2 * rest / 3
                else ZennitEpsilon(0.0001))
        name_map.append(((name,), rule))
    theirs = zennit_lrp(resnet, x, targets, NameLayerMapComposite(
        name_map=name_map, layer_map=layer_map_base(), canonizers=[ResNetCanonizer()]))
    ours = course.lrp(resnet, x, targets, progress=False, composite=Composite(
        ZBox(0.0, 2.0), Gamma(0.5), Epsilon(0.1), Epsilon(0.0001)))
    close(ours, theirs, rtol=1e-3)


# ----------------------------------------------------------------------------- closed forms


def test_linear_model_lrp_zero_is_weight_times_input():
    """z = w_c·x + b: LRP-0 gives R = w_c ⊙ x (the bias's share b is absorbed)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 5, 4)).eval()
    x, targets = scaled_images(3, 4, 5), [0, 3, 2]
    expected = model[1].weight.detach()[targets].view(3, 3, 4, 5) * x
    torch.testing.assert_close(course.lrp(model, x, targets, Zero(), progress=False), expected)


@pytest.mark.parametrize("rule", [ZPlus(), Gamma(0.5)])
def test_rules_on_signed_inputs_use_the_contributions(rule):
    """One linear layer on inputs of both signs: z⁺ splits z_c by the positive contributions
    (x_i w_i)⁺ (and b⁺); γ by x_i w_i + γ (x_i w_i)^± with the sign of the output, bias alike."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 5)).eval()
    x, targets = torch.randn(4, 3, 4, 4), [0, 1, 2, 4]
    w, b = model[1].weight.detach()[targets], model[1].bias.detach()[targets]
    contributions = x.flatten(1) * w
    with torch.no_grad():
        scores = model(x)[range(4), targets]
    if isinstance(rule, ZPlus):
        numerators, bias_part = contributions.clamp(min=0), b.clamp(min=0)
    else:
        positive = (scores > 0)[:, None]
        part = torch.where(positive, contributions.clamp(min=0), contributions.clamp(max=0))
        bias_sign = torch.where(positive[:, 0], b.clamp(min=0), b.clamp(max=0))
        numerators, bias_part = contributions + 0.5 * part, b + 0.5 * bias_sign
    denominators = numerators.sum(1) + bias_part
    expected = (numerators / (denominators + 1e-6 * denominators.sign())[:, None]
                * scores[:, None]).view_as(x)
    ours = course.lrp(model, x, targets, Composite.uniform(rule), progress=False)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-6)


def test_box_rule_on_a_normalised_linear_model():
    """Normalisation (x − m)/s, then one linear layer: the box rule with pixel bounds [0, 1] is
    R_i = (x_i w'_i − w'^-_i) / Σ(…) · z_c with w' = w/s — the bounds go through the
    normalisation with the image."""
    torch.manual_seed(0)
    mean, std = torch.tensor([0.4, 0.5, 0.6]), torch.tensor([0.2, 0.25, 0.3])

    class Normalise(nn.Module):
        def forward(self, x):
            return (x - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)

    model = nn.Sequential(Normalise(), nn.Flatten(), nn.Linear(3 * 4 * 4, 5)).eval()
    x, targets = torch.rand(2, 3, 4, 4), [1, 4]
    w = (model[2].weight.detach()[targets].view(2, 3, 4, 4) / std.view(1, 3, 1, 1))
    terms = x * w - w.clamp(max=0)
    with torch.no_grad():
        scores = model(x)[[0, 1], targets]
    expected = terms / terms.flatten(1).sum(1).view(2, 1, 1, 1) * scores.view(2, 1, 1, 1)
    ours = course.lrp(model, x, targets, Composite(ZBox(), Zero(), Zero(), Zero()),
                      progress=False)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-6)


def _gradient_times_input(model: nn.Module, x: torch.Tensor, targets: list[int]) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(model(x)[range(len(x)), targets].sum(), x)
    return gradient * x.detach()


def test_lrp_zero_is_gradient_times_input_on_a_relu_network_with_biases():
    """Ancona et al. 2018: with ε = 0 and ReLUs, LRP-0 = gradient × input, biases or not
    (their share is absorbed in both); max pooling and average pooling included."""
    model = VGGStyle()
    x = scaled_images(3)
    ours = course.lrp(model, x, TARGETS, composite=Zero(), progress=False)
    close(ours, _gradient_times_input(model, x, TARGETS), rtol=1e-4)


def test_lrp_zero_is_gradient_times_normalised_input_on_lite0_in_float64(lite0, photos):
    """With ReLU6 crossed by its gradient (Ancona's condition f(x) = x f'(x) fails above 6
    otherwise), LRP-0 on EfficientNet-Lite0 is the gradient times the *first layer's* input,
    (255x − 127)/128, i.e. ∇_x z_c ⊙ (x − 127/255) in pixel terms. In float64, because folding
    BatchNorm moves a few ReLU6 units across 0 or 6 in float32."""
    model = copy.deepcopy(lite0).double()
    x, targets = photos[:1].double(), [285]
    composite = Composite(Zero(), Zero(), Zero(), Zero(), relu6="gradient")
    ours = course.lrp(model, x, targets, composite=composite, progress=False)
    x_leaf = x.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(model(x_leaf)[0, 285], x_leaf)
    expected = gradient * (x - 127 / 255)
    torch.testing.assert_close(ours, expected, rtol=1e-7, atol=1e-9 * float(expected.abs().max()))


@pytest.mark.parametrize("composite", [Zero(), Gamma(0.25), Composite(ZBox(), Gamma(), Zero(),
                                                                      Zero())])
def test_bias_free_relu_network_conserves_relevance_exactly(composite):
    """No bias, no ε: nothing can absorb relevance, Σ R = z_c (the stabiliser 1e-6 aside)."""
    model = VGGStyle(batchnorm=False, bias=False)
    x = scaled_images(3).clamp(0, 1) if isinstance(composite, Composite) else scaled_images(3)
    relevance = course.lrp(model, x, TARGETS, composite=composite, progress=False)
    with torch.no_grad():
        scores = model(x)[range(3), TARGETS]
    torch.testing.assert_close(relevance.flatten(1).sum(1), scores, rtol=1e-4, atol=1e-6)


# ----------------------------------------------------------------------------- bookkeeping


@pytest.mark.parametrize("composite", ["cmp", "by_depth", "epsilon", Gamma(0.25)])
def test_conservation_layer_by_layer_lite0(lite0, photos, composite):
    """z_c = Σ pixels + Σ over layers of what each layer absorbed (its bias and stabiliser):
    relevance passes every other operation — ReLU6, sums, pooling — unchanged."""
    table = course.lrp_relevance_by_layer(lite0, photos[:2], [285, 967], composite=composite)
    with torch.no_grad():
        logits = lite0(photos[:2])[[0, 1], [285, 967]]
    torch.testing.assert_close(table.score, logits, rtol=1e-4, atol=1e-4)
    balance = table.pixels + table.absorbed.sum(dim=0)
    torch.testing.assert_close(balance, table.score, rtol=1e-4, atol=1e-4 * float(
        table.outputs.abs().max()))
    assert len(table.names) == 50 and table.names[0] == "stem.conv" and table.names[-1] == "fc"
    relevance = course.lrp(lite0, photos[:2], [285, 967], composite=composite, progress=False)
    torch.testing.assert_close(table.relevance, relevance)


def test_relu6_by_gradient_breaks_the_balance(lite0, photos):
    """Crossing ReLU6 by its derivative drops the relevance of units above 6, which no layer
    records: the balance no longer holds (it does with the default "pass")."""
    composite = Composite(Epsilon(0.25), Epsilon(0.25), Epsilon(0.25), Epsilon(0.25),
                          relu6="gradient")
    table = course.lrp_relevance_by_layer(lite0, photos[:1], [967], composite=composite)
    gap = (table.score - table.pixels - table.absorbed.sum(dim=0)).abs()
    assert gap.item() > 1e-2


def test_conservation_layer_by_layer_resnet(resnet):
    x = resnet_images()
    table = course.lrp_relevance_by_layer(resnet, x, [3, 7], composite=Composite(
        ZBox(0.0, 2.0), Gamma(), Epsilon(0.1), Zero()))
    torch.testing.assert_close(table.pixels + table.absorbed.sum(dim=0), table.score,
                               rtol=1e-4, atol=1e-5)


def test_in_place_relus_give_the_same_relevance(resnet):
    x = resnet_images()
    composite = Composite(ZBox(0.0, 2.0), ZPlus(), Gamma(), Epsilon(0.25))
    torch.testing.assert_close(course.lrp(resnet, x, [3, 7], composite, progress=False),
                               course.lrp(out_of_place(resnet), x, [3, 7], composite,
                                          progress=False))


def test_cost_in_passes(lite0, photos):
    """One watched forward pass of one image (plus black and white ones for the box rule),
    then one forward and one backward pass per image."""
    with course.count_passes(lite0) as cost:
        course.lrp(lite0, photos[:3], [1, 2, 3], composite="cmp", batch_size=2, progress=False)
    assert (cost.forward, cost.backward) == (3 + 3, 3)
    with course.count_passes(lite0) as cost:
        course.lrp(lite0, photos[:3], [1, 2, 3], composite=Epsilon(0.25), progress=False)
    assert (cost.forward, cost.backward) == (1 + 3, 3)


# ----------------------------------------------------------------------------- refusals


class Gated(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 5)

    def forward(self, x):
        h = torch.relu(self.conv(x))
        return self.fc((h * torch.sigmoid(h)).mean(dim=(2, 3)))


class SharedConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.fc = nn.Linear(3, 5)

    def forward(self, x):
        return self.fc(self.conv(torch.relu(self.conv(x))).mean(dim=(2, 3)))


class Product(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 4, 3), nn.Linear(4, 5)

    def forward(self, x):
        h = self.conv(x).relu()
        return self.fc((h * h.mean(dim=(2, 3), keepdim=True)).mean(dim=(2, 3)))


@pytest.mark.parametrize("model, error, words", [
    (nn.Sequential(nn.Conv2d(3, 4, 3), nn.GELU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5)),
     TypeError, r"'1' \(GELU\) has no LRP rule"),
    (nn.Sequential(nn.BatchNorm2d(3), nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(),
                   nn.Linear(4 * 6 * 6, 5)), TypeError, "BatchNorm '0' does not directly follow"),
    (Gated(), TypeError, "torch.sigmoid"),
    (Product(), ValueError, "multiplies or divides two activations"),
    (SharedConv(), TypeError, "'conv' runs 2 times"),
    (nn.Sequential(nn.Conv2d(3, 4, 3), nn.Hardtanh(-1, 1), nn.Flatten(),
                   nn.Linear(4 * 6 * 6, 5)), TypeError, r"Hardtanh\) has no LRP rule"),
    (nn.Sequential(nn.ConvTranspose2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 10 * 10, 5)),
     TypeError, r"ConvTranspose2d\) has no LRP rule"),
])
def test_unsupported_layers_are_named_and_the_model_is_restored(model, error, words):
    from test_model_safety import assert_unchanged, snapshot
    model.eval()
    before = snapshot(model)
    with pytest.raises(error, match=words):
        course.lrp(model, torch.rand(2, 3, 8, 8), [0, 1], composite=Epsilon(), progress=False)
    assert_unchanged(before, model)


def test_bad_composites_are_refused():
    x = torch.rand(1, 3, 8, 8)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))
    with pytest.raises(ValueError, match="input layer only"):
        course.lrp(model, x, 0, composite=ZBox())
    with pytest.raises(ValueError, match="input layer only"):
        Composite(ZBox(), ZBox(), Zero(), Zero())
    with pytest.raises(ValueError, match="unknown composite 'lrp-1'"):
        course.lrp(model, x, 0, composite="lrp-1")
    with pytest.raises(TypeError, match="composite must be"):
        course.lrp(model, x, 0, composite=0.25)
    with pytest.raises(ValueError, match=r"outside the box rule's \[0, 1\]"):
        course.lrp(model, x * 255, 0, composite="cmp")
    with pytest.raises(ValueError, match="relu6"):
        Composite(Zero(), Zero(), Zero(), Zero(), relu6="cap")
