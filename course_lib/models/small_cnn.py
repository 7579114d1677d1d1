r"""A small CNN trained on the synthetic shapes (:mod:`course_lib.data.synthetic`).

Architecture (input: RGB in [0, 1], no normalisation, ``64 × 64``)::

    features.conv1  3 →  8, 3×3  → bn1 → relu1 → pool1 (2×2 max)   64 → 32
    features.conv2  8 → 16, 3×3  → bn2 → relu2 → pool2 (2×2 max)   32 → 16
    features.conv3 16 → 32, 3×3  → bn3 → relu3                      16 × 16
    features.conv4 32 → 32, 3×3  → bn4 → relu4                      16 × 16
    pool           global average                                  32
    classifier     linear 32 → 4 (logits of CLASS_NAMES)

Every ReLU is its own ``nn.ReLU`` module (DeconvNet and guided backprop swap
them), and there is no functional ReLU in ``forward``. The layer to explain with
Grad-CAM is :data:`CAM_LAYER` = ``"features.relu4"``: the rectified output of the
last convolution, 16 × 16 feature maps of 4-pixel cells, each seeing a 26-pixel
window of the image (enough for a whole object).

The trained weights (70 kB) ship with the package as
``course_lib/models/weights/small_cnn.pt``. :func:`load_small_cnn` checks their SHA-256
against :data:`SMALL_CNN_SHA256` and reads them with ``weights_only=True``.
Retrain with ``python -m course_lib.models.train_cnn --train`` (``make train-cnn``):
4000 images, 5 epochs, 315 steps; 130–165 CPU-seconds, i.e. 1–1.5 minutes on two
idle cores (longer on a busy machine). Fully seeded: the same machine and thread
count give bit-identical weights; another CPU or library version may differ in
the last bits of floating point, hence in the digest (the command prints it).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import time
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from course_lib.models.loaders import WeightsUnavailableError, sha256_of
from course_lib.data.synthetic import CLASS_NAMES, make_shapes

WEIGHTS_PATH = Path(__file__).resolve().parent / "weights" / "small_cnn.pt"
SMALL_CNN_SHA256 = "bea5ff8975f31a2929174183e563d4447edb601eefcb22fe5903c412bbf302a6"
CAM_LAYER = "features.relu4"
TRAIN_DATA_SEED = 1000    # make_shapes(seed=...) of the training set
TEST_DATA_SEED = 2000     # ... and of the held-out test set (never seen in training)


class SmallCNN(nn.Module):
    """Four 3×3 convolutions with BatchNorm and ReLU modules, global average pool, linear head."""

    def __init__(self, num_classes: int = len(CLASS_NAMES)) -> None:
        super().__init__()
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        channels = (3, 8, 16, 32, 32)
        for k in range(1, 5):
            layers[f"conv{k}"] = nn.Conv2d(channels[k - 1], channels[k], 3, padding=1, bias=False)
            layers[f"bn{k}"] = nn.BatchNorm2d(channels[k])
            layers[f"relu{k}"] = nn.ReLU()
            if k <= 2:
                layers[f"pool{k}"] = nn.MaxPool2d(2)
        self.features = nn.Sequential(layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)).flatten(1))


@torch.no_grad()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
             batch_size: int = 256) -> float:
    """Share of ``images`` whose top-1 class is ``labels`` (model put in eval mode, then restored)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        predictions = torch.cat([model(chunk.to(device)).argmax(dim=1).cpu()
                                 for chunk in images.split(batch_size)])
    finally:
        model.train(was_training)
    return float((predictions == labels.cpu()).float().mean())


def train_small_cnn(seed: int = 0, n_train: int = 4000, epochs: int = 5, batch_size: int = 64,
                    learning_rate: float = 4e-3, max_steps: int | None = None,
                    progress: bool = True) -> SmallCNN:
    """Train :class:`SmallCNN` on ``make_shapes(n_train, seed=TRAIN_DATA_SEED)``; reproducible.

    ``seed`` fixes the initial weights and the order of the mini-batches. AdamW with a
    one-cycle learning-rate schedule and cross-entropy on the logits. ``max_steps``
    stops early (for quick tests). Returns the model in eval mode, on the CPU.
    """
    from tqdm.auto import tqdm

    torch.manual_seed(seed)
    model = SmallCNN()
    images, labels, _ = make_shapes(n_train, seed=TRAIN_DATA_SEED)
    steps_per_epoch = -(-n_train // batch_size)
    total_steps = epochs * steps_per_epoch if max_steps is None else max_steps
    optimiser = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=learning_rate,
                                                   total_steps=max(total_steps, 2))
    order_generator = torch.Generator().manual_seed(seed)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    step = 0
    with tqdm(total=total_steps, desc="training steps", disable=not progress, leave=False) as bar:
        while step < total_steps:
            for batch in torch.randperm(n_train, generator=order_generator).split(batch_size):
                if step == total_steps:
                    break
                loss = loss_fn(model(images[batch]), labels[batch])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                schedule.step()
                step += 1
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}")
    return model.eval()


def state_dict_bytes(model: nn.Module) -> bytes:
    """The model's state dict serialised by ``torch.save`` (what the weights file holds)."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getvalue()


def load_small_cnn(device: str | torch.device | None = None,
                   path: str | Path | None = None, check_sha256: bool = True) -> SmallCNN:
    """The trained :class:`SmallCNN` in eval mode on ``device`` (default: CPU).

    The shipped file is checked against :data:`SMALL_CNN_SHA256` first; pass
    ``path`` (and ``check_sha256=False``) to load weights you trained yourself.
    """
    path = Path(path) if path is not None else WEIGHTS_PATH
    if not path.is_file():
        raise WeightsUnavailableError(
            f"small-CNN weights not found at {path}; reinstall the course (`pip install -e .`) "
            "or retrain them with `python -m course_lib.models.train_cnn --train` (make train-cnn)")
    if check_sha256 and (digest := sha256_of(path)) != SMALL_CNN_SHA256:
        raise WeightsUnavailableError(
            f"{path} has SHA-256 {digest}, expected {SMALL_CNN_SHA256}: the file is damaged or "
            "was retrained. Restore it (git checkout course_lib/models/weights/small_cnn.pt), or load "
            "your own weights with load_small_cnn(path=..., check_sha256=False).")
    model = SmallCNN()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
    return model.eval().to(device or "cpu")


def main() -> int:
    parser = argparse.ArgumentParser(description="Train the small CNN on the synthetic shapes.")
    parser.add_argument("--train", action="store_true", help="train and write the weights file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    parser.add_argument("--n-test", type=int, default=2000)
    args = parser.parse_args()
    if not args.train:
        model = load_small_cnn()
        images, labels, _ = make_shapes(args.n_test, seed=TEST_DATA_SEED)
        print(f"shipped weights: test accuracy {accuracy(model, images, labels):.2%} "
              f"on {args.n_test} held-out images")
        return 0
    start = time.perf_counter()
    model = train_small_cnn(seed=args.seed, epochs=args.epochs)
    seconds = time.perf_counter() - start
    images, labels, _ = make_shapes(args.n_test, seed=TEST_DATA_SEED)
    print(f"trained in {seconds:.0f} s ({torch.get_num_threads()} threads); "
          f"test accuracy {accuracy(model, images, labels):.2%} on {args.n_test} held-out images")
    data = state_dict_bytes(model)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    print(f"wrote {args.out} ({len(data) / 1024:.0f} kB), sha256 {digest}")
    if args.out.resolve() == WEIGHTS_PATH and digest != SMALL_CNN_SHA256:
        print("note: this differs from SMALL_CNN_SHA256 in course_lib/small_cnn.py; update that "
              "constant if you mean to ship these weights")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
