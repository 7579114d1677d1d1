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
# The data-randomization test (Adebayo et al. 2018): the same network trained on the same
# images with their labels shuffled (make train-cnn-shuffled).
SHUFFLED_WEIGHTS_PATH = WEIGHTS_PATH.with_name("small_cnn_shuffled.pt")
SHUFFLED_SHA256 = "17badf9415c6e7914c7b6a1d7c5879695988965d4577491081afa4bccd497d80"
SHUFFLED_TRAINING = dict(n_train=500, epochs=60, learning_rate=4e-3)
LABEL_SHUFFLE_SEED = 3000
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


def shuffled_labels(labels: torch.Tensor, seed: int = LABEL_SHUFFLE_SEED) -> torch.Tensor:
    """``labels`` in a random order (seeded): every image keeps a label, but not its own."""
    return labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))]


def train_small_cnn(seed: int = 0, n_train: int = 4000, epochs: int = 5, batch_size: int = 64,
                    learning_rate: float = 4e-3, max_steps: int | None = None,
                    progress: bool = True, shuffle_labels: bool = False) -> SmallCNN:
    """Train :class:`SmallCNN` on ``make_shapes(n_train, seed=TRAIN_DATA_SEED)``; reproducible.

    ``seed`` fixes the initial weights and the order of the mini-batches. AdamW with a
    one-cycle learning-rate schedule and cross-entropy on the logits. ``max_steps``
    stops early (for quick tests). With ``shuffle_labels=True`` the labels are permuted
    first (:func:`shuffled_labels`): nothing in an image predicts its label any more,
    so whatever the network fits is memorised (Adebayo et al.'s data randomization;
    :data:`SHUFFLED_TRAINING` gives the settings of the shipped weights). Returns the
    model in eval mode, on the CPU.
    """
    from tqdm.auto import tqdm

    torch.manual_seed(seed)
    model = SmallCNN()
    images, labels, _ = make_shapes(n_train, seed=TRAIN_DATA_SEED)
    if shuffle_labels:
        labels = shuffled_labels(labels)
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
                   path: str | Path | None = None, check_sha256: bool = True,
                   shuffled: bool = False) -> SmallCNN:
    """The trained :class:`SmallCNN` in eval mode on ``device`` (default: CPU).

    The shipped file is checked against :data:`SMALL_CNN_SHA256` first; pass
    ``path`` (and ``check_sha256=False``) to load weights you trained yourself.
    ``shuffled=True`` loads the network trained on shuffled labels instead
    (:data:`SHUFFLED_SHA256`), the model of the data-randomization test.
    """
    default, expected = ((SHUFFLED_WEIGHTS_PATH, SHUFFLED_SHA256) if shuffled
                         else (WEIGHTS_PATH, SMALL_CNN_SHA256))
    path = Path(path) if path is not None else default
    command = "--train --shuffled" if shuffled else "--train"
    if not path.is_file():
        raise WeightsUnavailableError(
            f"small-CNN weights not found at {path}; reinstall the course (`pip install -e .`) "
            f"or retrain them with `python -m course_lib.models.train_cnn {command}`")
    if check_sha256 and (digest := sha256_of(path)) != expected:
        raise WeightsUnavailableError(
            f"{path} has SHA-256 {digest}, expected {expected}: the file is damaged or "
            f"was retrained. Restore it (git checkout {path.name}), or load "
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
    parser.add_argument("--shuffled", action="store_true",
                        help="the data-randomization model: train on shuffled labels "
                             "(SHUFFLED_TRAINING settings; writes small_cnn_shuffled.pt)")
    args = parser.parse_args()
    images, labels, _ = make_shapes(args.n_test, seed=TEST_DATA_SEED)
    if not args.train:
        model = load_small_cnn(shuffled=args.shuffled)
        print(f"shipped weights: test accuracy {accuracy(model, images, labels):.2%} "
              f"on {args.n_test} held-out images")
        return 0
    out, expected = args.out, SMALL_CNN_SHA256
    start = time.perf_counter()
    if args.shuffled:
        out = SHUFFLED_WEIGHTS_PATH if args.out == WEIGHTS_PATH else args.out
        expected = SHUFFLED_SHA256
        model = train_small_cnn(seed=args.seed, shuffle_labels=True, **SHUFFLED_TRAINING)
        train_images, train_labels, _ = make_shapes(SHUFFLED_TRAINING["n_train"],
                                                    seed=TRAIN_DATA_SEED)
        print("accuracy on its own (shuffled) training labels: "
              f"{accuracy(model, train_images, shuffled_labels(train_labels)):.2%}")
    else:
        model = train_small_cnn(seed=args.seed, epochs=args.epochs)
    seconds = time.perf_counter() - start
    print(f"trained in {seconds:.0f} s ({torch.get_num_threads()} threads); "
          f"test accuracy {accuracy(model, images, labels):.2%} on {args.n_test} held-out images")
    data = state_dict_bytes(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    print(f"wrote {out} ({len(data) / 1024:.0f} kB), sha256 {digest}")
    if out.resolve() in (WEIGHTS_PATH, SHUFFLED_WEIGHTS_PATH) and digest != expected:
        print("note: this differs from the SHA-256 constant in course_lib/models/small_cnn.py; "
              "update it if you mean to ship these weights")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
