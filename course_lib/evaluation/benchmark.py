r"""The benchmark: every registered method through every test, on two models.

Run it from a terminal (``make evaluate``)::

    python -m course_lib.evaluation.benchmark              # everything (≈ 20–30 min, 2 cores)
    python -m course_lib.evaluation.benchmark --estimate   # pass counts and time, no run
    python -m course_lib.evaluation.benchmark --quick      # a few images, for a smoke test
    python -m course_lib.evaluation.benchmark --models small_cnn --parts ground_truth

It writes ``notebooks/results/benchmark_<model>.npz`` (per-image scores) and
``notebooks/results/benchmark_summary.csv`` (means with 95 % bootstrap intervals), which
notebooks 09–11 load with :func:`load_results`. Everything is seeded per image, so a
rerun — or a rerun on a subset of the images — gives the same numbers up to the last
float digits (thread counts change summation order).

The two models (:func:`small_cnn_setup`, :func:`lite0_setup`):

* **small CNN** on the synthetic shapes, whose evidence masks are known: ground truth on
  ``n_ground_truth`` = 500 held-out test images, the other tests on the first
  ``n_images`` = 100 of them;
* **EfficientNet-Lite0** on the bundled photos it recognises
  (:data:`course_lib.data.benchmark_photos.RECOGNISED`, six images).

The tests (``parts``), each a function below: ``ground_truth`` (pointing game, mass
inside the mask, mask ROC-AUC), ``sanity`` (cascading and independent randomization
with a null distribution; data randomization on the small CNN), ``faithfulness`` (MoRF
and LeRF removal with black, blurred and ROAD fills) and ``robustness``
(max-sensitivity, infidelity, the top-k attack against random noise).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from course_lib.cost import count_passes
from course_lib.evaluation import registry
from course_lib.evaluation.deletion_insertion import ORDERS, removal_curves
from course_lib.evaluation.fragility import random_sign_noise, top_k_attack, top_k_intersection
from course_lib.evaluation.imputation import FILLS
from course_lib.evaluation.localisation import mask_roc_auc, mass_inside_mask, pointing_game
from course_lib.evaluation.registry import Method, Setup, to_map
from course_lib.evaluation.robustness import max_sensitivity, relative_infidelity, score_changes
from course_lib.evaluation.sanity_checks import cascading_randomization, rank_correlations
from course_lib.evaluation.statistics import bootstrap_mean

RESULTS_DIR = Path(__file__).resolve().parents[2] / "notebooks" / "results"
PARTS: tuple[str, ...] = ("ground_truth", "sanity", "faithfulness", "robustness")
MODELS: tuple[str, ...] = ("small_cnn", "lite0")
NULL_SEEDS: tuple[int, ...] = (0, 100, 200)     # three fully random models → three pairs

# Cascades, top (logits) first. The small CNN: one step per learned layer.
SMALL_CNN_CASCADE: dict[str, tuple[str, ...]] = {
    "classifier": ("classifier",),
    "conv4": ("features.conv4", "features.bn4"),
    "conv3": ("features.conv3", "features.bn3"),
    "conv2": ("features.conv2", "features.bn2"),
    "conv1": ("features.conv1", "features.bn1"),
}
# EfficientNet-Lite0: its 10 steps (fc, head, 7 stages, stem) grouped into 6.
LITE0_CASCADE: dict[str, tuple[str, ...]] = {
    "fc": ("fc",),
    "head": ("head",),
    "stages 7–6": ("blocks.15", "blocks.11", "blocks.12", "blocks.13", "blocks.14"),
    "stages 5–4": ("blocks.8", "blocks.9", "blocks.10", "blocks.5", "blocks.6", "blocks.7"),
    "stages 3–2": ("blocks.3", "blocks.4", "blocks.1", "blocks.2"),
    "stage 1, stem": ("blocks.0", "stem"),
}

# Reference costs on two idle CPU cores, seconds per image and pass (the estimate).
SECONDS_PER_PASS = {
    "small_cnn": {"forward": 0.0003, "backward": 0.0006, "double": 0.004, "road": 0.002},
    "lite0": {"forward": 0.015, "backward": 0.025, "double": 1.0, "road": 0.01},
}


@dataclass
class Config:
    """How much to compute. The defaults are the shipped results; :data:`QUICK` a smoke test."""

    n_ground_truth: int = 500        # small CNN: test images for the ground-truth scores
    n_images: int = 100              # small CNN: images for sanity, faithfulness, robustness
    dataset_size: int = 500          # small CNN: the images are the first ones of
                                     # make_shapes(dataset_size, TEST_DATA_SEED)
    photos: tuple[str, ...] | None = None   # Lite0: default every recognised photo
    methods: tuple[str, ...] | None = None  # default every registered method
    chunk: int = 50                  # images per chunk (memory)
    bootstrap: int = 2000
    sensitivity_radius: float = 0.02
    sensitivity_samples: dict = field(default_factory=lambda: {"small_cnn": 8, "lite0": 4})
    infidelity_samples: int = 64     # squares of a quarter of the image side, removed
    attack_epsilon: dict = field(default_factory=lambda: {"small_cnn": 2 / 255,
                                                          "lite0": 1 / 255})
    attack_beta: float = 10.0
    fractions: tuple[float, ...] = tuple(k / 10 for k in range(11))


QUICK = Config(n_ground_truth=8, n_images=4, photos=("coffee", "camera"), chunk=4,
               bootstrap=200, sensitivity_samples={"small_cnn": 2, "lite0": 1},
               infidelity_samples=4)


# ----------------------------------------------------------------------------- the models

def small_cnn_setup(model: torch.nn.Module | None = None) -> Setup:
    """The small CNN of notebook 09 and its settings (64 × 64 images)."""
    from course_lib.models.small_cnn import CAM_LAYER, load_small_cnn

    return dataclasses.replace(settings("small_cnn"), cam_layer=CAM_LAYER,
                               model=model if model is not None else load_small_cnn())


def lite0_setup(model: torch.nn.Module | None = None) -> Setup:
    """EfficientNet-Lite0 and its settings (224 × 224 photos)."""
    from course_lib.models.loaders import load_efficientnet_lite0

    return dataclasses.replace(settings("lite0"), cam_layer="head",
                               model=model if model is not None else load_efficientnet_lite0())


@dataclass
class Data:
    """The images of one model, their targets, masks (small CNN) and names."""

    images: torch.Tensor
    targets: torch.Tensor
    masks: torch.Tensor | None
    names: list[str]


def small_cnn_data(n: int, dataset_size: int = 500) -> Data:
    """The first ``n`` of ``dataset_size`` held-out test shapes; the target is the true class.

    (``make_shapes`` draws its labels as one permutation of all ``dataset_size`` images, so
    the first images depend on the size asked for: always ask for the same size.)
    """
    from course_lib.data.synthetic import make_shapes
    from course_lib.models.small_cnn import TEST_DATA_SEED

    images, labels, masks = make_shapes(max(n, dataset_size), seed=TEST_DATA_SEED)
    return Data(images[:n], labels[:n], masks[:n], [f"shape {i}" for i in range(n)])


def lite0_data(setup: Setup, photos: tuple[str, ...] | None) -> Data:
    """The recognised photos; the target is the classifier's top-1 class."""
    from course_lib.data.benchmark_photos import RECOGNISED, load_benchmark_photos

    names = tuple(RECOGNISED) if photos is None else photos
    images = load_benchmark_photos(names)
    with torch.no_grad():
        targets = setup.model(images).argmax(dim=1)
    return Data(images, targets, None, list(names))


# ----------------------------------------------------------------------------- helpers

def chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def compute_maps(setup: Setup, methods: list[Method], images: torch.Tensor,
                 targets: torch.Tensor, chunk: int, progress: bool = False,
                 desc: str = "maps") -> dict[str, torch.Tensor]:
    """Every method's 2-D map of every image, ``name → (N, H, W)``, computed chunk by chunk."""
    maps: dict[str, list[torch.Tensor]] = {m.name: [] for m in methods}
    jobs = [(part, m) for part in chunks(len(images), chunk) for m in methods]
    with warnings.catch_warnings():
        # a randomized network often has all-zero CAMs: expected, and scored as such
        warnings.filterwarnings("ignore", message=".*zero everywhere.*")
        for part, method in tqdm(jobs, desc=desc, disable=not progress, leave=False):
            attribution = method.attribute(setup, images[part], targets[part])
            maps[method.name].append(to_map(method, attribution).cpu())
    return {name: torch.cat(values) for name, values in maps.items()}


def fully_randomized(model: torch.nn.Module, cascade: dict, seed: int) -> torch.nn.Module:
    """A copy of ``model`` with every layer of ``cascade`` re-initialised (seeded)."""
    last = None
    for _, last in cascading_randomization(model, cascade, seed=seed):
        pass
    return last


class Scores:
    """Per-image scores ``(test, variant) → (N images, M methods)``, NaN where not applicable.

    Tests :meth:`add` values chunk by chunk, in image order, then :meth:`close` them with
    the names of the images they scored.
    """

    def __init__(self, methods: list[str]) -> None:
        self.methods = list(methods)
        self.values: dict[tuple[str, str], np.ndarray] = {}
        self.images: dict[tuple[str, str], list[str]] = {}
        self._open: dict[tuple[str, str, str], list[np.ndarray]] = {}

    def add(self, test: str, variant: str, method: str, values: object) -> None:
        """Append one method's scores for the next images of ``(test, variant)``."""
        array = torch.as_tensor(np.asarray(values, dtype=np.float64)).numpy().reshape(-1)
        self._open.setdefault((test, variant, method), []).append(array)

    def close(self, names: list[str]) -> None:
        """Store everything added since the last call as the scores of images ``names``."""
        for (test, variant, method), parts in self._open.items():
            values = np.concatenate(parts)
            if len(values) != len(names):
                raise ValueError(f"{test}/{variant}/{method}: {len(values)} scores for "
                                 f"{len(names)} images")
            key = (test, variant)
            if key not in self.values:
                self.values[key] = np.full((len(names), len(self.methods)), np.nan)
                self.images[key] = list(names)
            self.values[key][:, self.methods.index(method)] = values
        self._open.clear()


# ----------------------------------------------------------------------------- the tests

def ground_truth(setup: Setup, data: Data, methods: list[Method], scores: Scores,
                 config: Config, progress: bool) -> None:
    """Pointing game (τ = 0 and 2 px), mass inside the mask, ROC-AUC against the mask."""
    for part in tqdm(list(chunks(len(data.images), config.chunk)), desc="ground truth",
                     disable=not progress, leave=False):
        maps = compute_maps(setup, methods, data.images[part], data.targets[part], config.chunk)
        masks = data.masks[part]
        for name, m in maps.items():
            scores.add("pointing", "tau=2", name, pointing_game(m, masks, tolerance=2))
            scores.add("pointing", "tau=0", name, pointing_game(m, masks))
            scores.add("mass", "absolute", name, mass_inside_mask(m, masks))
            scores.add("roc_auc", "mask", name, mask_roc_auc(m, masks))
    scores.close(data.names)


def sanity(setup: Setup, data: Data, methods: list[Method], scores: Scores, config: Config,
           cascade: dict[str, tuple[str, ...]], progress: bool,
           shuffled: torch.nn.Module | None = None) -> None:
    """Cascading and independent randomization, the null distribution, data randomization.

    Every variant model explains the *same* class as the trained model. Similarity is
    the Spearman correlation of the absolute maps (:func:`spearman_rows`). The null:
    ``null_random`` compares the maps of two independently re-initialised models (three
    seeds, three pairs): how alike maps are when nothing learned is left in either;
    ``null_images`` compares the trained model's maps of two *different* images: how
    alike two unrelated maps of the method are.
    """
    x, t, names = data.images, data.targets, data.names
    trained = compute_maps(setup, methods, x, t, config.chunk, progress, "trained maps")
    variants: list[tuple[str, str, torch.nn.Module]] = []
    for label, model in cascading_randomization(setup.model, cascade, seed=NULL_SEEDS[0]):
        variants.append(("cascade", label, model))
    first = list(cascade)[0]
    for label, model in cascading_randomization(setup.model, cascade, seed=NULL_SEEDS[0],
                                                cascade=False):
        if label != first:      # step 1 alone is the cascade's step 1 (same layers, same seed)
            variants.append(("independent", label, model))
    random_maps = {}
    for test, label, model in tqdm(variants, desc="randomized models", disable=not progress,
                                   leave=False):
        maps = compute_maps(dataclasses.replace(setup, model=model), methods, x, t,
                            config.chunk)
        for name, m in maps.items():
            rho = rank_correlations(trained[name], m)
            scores.add(test, label, name, rho)
            if test == "cascade" and label == first:
                scores.add("independent", label, name, rho)
        if test == "cascade" and label == list(cascade)[-1]:
            random_maps[NULL_SEEDS[0]] = maps
    for seed in NULL_SEEDS[1:]:
        model = fully_randomized(setup.model, cascade, seed)
        random_maps[seed] = compute_maps(dataclasses.replace(setup, model=model), methods, x,
                                         t, config.chunk)
    for a, b in ((0, 1), (0, 2), (1, 2)):
        sa, sb = NULL_SEEDS[a], NULL_SEEDS[b]
        for name in trained:
            scores.add("null_random", f"seeds {sa}/{sb}", name,
                       rank_correlations(random_maps[sa][name], random_maps[sb][name]))
    for name, m in trained.items():
        scores.add("null_images", "next image", name, rank_correlations(m, m.roll(-1, dims=0)))
    if shuffled is not None:
        maps = compute_maps(dataclasses.replace(setup, model=shuffled), methods, x, t,
                            config.chunk, progress, "shuffled-label maps")
        for name, m in maps.items():
            scores.add("data_randomization", "shuffled labels", name,
                       rank_correlations(trained[name], m))
    scores.close(names)


def faithfulness(setup: Setup, data: Data, methods: list[Method], scores: Scores,
                 config: Config, progress: bool) -> dict[str, np.ndarray]:
    """MoRF and LeRF areas for black, blurred and ROAD fills; returns the per-image curves."""
    x, t, names = data.images, data.targets, data.names
    maps = compute_maps(setup, methods, x, t, config.chunk, progress, "maps")
    if data.masks is not None:
        maps["ground-truth mask"] = data.masks.float()
    curves: dict[str, np.ndarray] = {}
    for name, saliency in tqdm(list(maps.items()), desc="removal curves",
                               disable=not progress, leave=False):
        per_image = {key: [] for key in ((f, o) for f in FILLS for o in ORDERS)}
        for part in chunks(len(x), config.chunk):
            result = removal_curves(setup.model, x[part], t[part], saliency[part],
                                    fractions=config.fractions, block=setup.block,
                                    blur_sigma=setup.blur_sigma, noise_seed=part.start,
                                    tie_seed=part.start, batch_size=setup.batch_size,
                                    progress=False)
            for key in per_image:
                per_image[key].append(result.scores[key])
        for (fill, order), values in per_image.items():
            stacked = torch.cat(values)
            curves[f"{name}|{fill}|{order}"] = stacked.numpy().astype(np.float32)
            area = torch.trapezoid(stacked, torch.tensor(config.fractions, dtype=torch.float64),
                                   dim=1)
            if name == "ground-truth mask":
                curves[f"oracle|{fill}|{order}|auc"] = area.numpy()
            else:
                scores.add(order, fill, name, area)
    scores.close(names)
    return curves


def robustness(setup: Setup, data: Data, methods: list[Method], scores: Scores,
               config: Config, progress: bool) -> None:
    """Max-sensitivity and relative infidelity (all methods); the top-k attack (those with
    a differentiable map) against random sign noise of the same size."""
    x, t, names = data.images, data.targets, data.names
    samples = config.sensitivity_samples[setup.name]
    epsilon = config.attack_epsilon[setup.name]
    for part in tqdm(list(chunks(len(x), config.chunk)), desc="robustness",
                     disable=not progress, leave=False):
        xs, ts = x[part], t[part]
        perturbations, changes = score_changes(setup.model, xs, ts, config.infidelity_samples,
                                               "square", setup.image_size // 4,
                                               seed=part.start, batch_size=setup.batch_size,
                                               progress=False)
        for method in methods:
            attribution = method.attribute(setup, xs, ts)
            scores.add("infidelity", "relative", method.name,
                       relative_infidelity(attribution.cpu(), perturbations, changes))

            def explain(images: torch.Tensor, method: Method = method) -> torch.Tensor:
                return to_map(method, method.attribute(setup, images, ts))

            scores.add("max_sensitivity", f"r={config.sensitivity_radius:g}", method.name,
                       max_sensitivity(explain, xs, config.sensitivity_radius, samples,
                                       seed=part.start, progress=False))
            if method.differentiable is None:
                continue
            original = explain(xs)
            noisy = torch.cat([random_sign_noise(xs[i:i + 1], epsilon, seed=part.start + i)
                               for i in range(len(xs))])     # image i: seed i
            scores.add("fragility", "random noise", method.name,
                       top_k_intersection(original, explain(noisy), setup.top_k))

            def objective(net, images, classes, method=method):
                return method.differentiable(setup, net, images, classes)

            def measure(net, images, classes, method=method):
                return to_map(method, method.attribute(dataclasses.replace(setup, model=net),
                                                       images, classes))

            result = top_k_attack(setup.model, xs, ts, k=setup.top_k, epsilon=epsilon,
                                  step_size=epsilon, iterations=1, beta=config.attack_beta,
                                  progress=False, objective=objective, measure=measure)
            scores.add("fragility", "attack", method.name, result.final_intersection)
            scores.add("fragility", "label kept", method.name, result.label_kept[:, 1].float())
    scores.close(names)


# ----------------------------------------------------------------------------- running

def run_model(model_name: str, config: Config = Config(), parts: tuple[str, ...] = PARTS,
              progress: bool = True, setup: Setup | None = None) -> tuple[Scores, dict]:
    """Run ``parts`` on one model; returns the scores and extra arrays (curves, passes)."""
    if model_name == "small_cnn":
        setup = setup or small_cnn_setup()
        data = small_cnn_data(max(config.n_ground_truth, config.n_images), config.dataset_size)
        cascade = SMALL_CNN_CASCADE
    elif model_name == "lite0":
        setup = setup or lite0_setup()
        data = lite0_data(setup, config.photos)
        cascade = LITE0_CASCADE
    else:
        raise ValueError(f"unknown model {model_name!r}; choose from {MODELS}")
    methods = [m for m in registry.METHODS if config.methods is None or m.name in config.methods]
    scores = Scores([m.name for m in methods])
    extra: dict[str, np.ndarray] = {}
    n_rest = min(config.n_images, len(data.images))
    rest = Data(data.images[:n_rest], data.targets[:n_rest],
                None if data.masks is None else data.masks[:n_rest], data.names[:n_rest])
    with count_passes(setup.model) as passes:
        start = time.perf_counter()
        if "ground_truth" in parts and data.masks is not None:
            n = min(config.n_ground_truth, len(data.images))
            gt = Data(data.images[:n], data.targets[:n], data.masks[:n], data.names[:n])
            ground_truth(setup, gt, methods, scores, config, progress)
        if "sanity" in parts:
            shuffled = None
            if model_name == "small_cnn":
                from course_lib.models.small_cnn import load_small_cnn
                shuffled = load_small_cnn(shuffled=True)
            sanity(setup, rest, methods, scores, config, cascade, progress, shuffled)
        if "faithfulness" in parts:
            extra.update(faithfulness(setup, rest, methods, scores, config, progress))
        if "robustness" in parts:
            robustness(setup, rest, methods, scores, config, progress)
        seconds = time.perf_counter() - start
    extra["passes"] = np.array([passes.forward, passes.backward])
    extra["targets"] = data.targets[:max(n_rest, min(config.n_ground_truth,
                                                     len(data.images)))].numpy()
    if progress:
        print(f"{model_name}: {passes} (the model and its randomized and smoothed copies), "
              f"{seconds:.0f} s")
    return scores, extra


def save(model_name: str, scores: Scores, extra: dict, out: Path = RESULTS_DIR) -> Path:
    """Write ``benchmark_<model>.npz``: every score array, the method names, the images.

    Results of tests that this run did not compute are kept from the existing file (a run
    of some ``--parts`` updates those parts), if it scored the same methods.
    """
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"benchmark_{model_name}.npz"
    arrays: dict[str, np.ndarray] = {}
    if path.is_file():
        with np.load(path, allow_pickle=False) as old:
            if [str(m) for m in old["methods"]] == scores.methods:
                arrays = {key: old[key] for key in old.files}
    tests = {test for test, _ in scores.values}
    arrays = {key: value for key, value in arrays.items()
              if not (key.startswith(("score|", "images|")) and key.split("|")[1] in tests)}
    arrays["methods"] = np.array(scores.methods)
    for (test, variant), values in scores.values.items():
        arrays[f"score|{test}|{variant}"] = values.astype(np.float32)
        arrays[f"images|{test}|{variant}"] = np.array(scores.images[(test, variant)])
    for key, value in extra.items():
        arrays[f"extra|{key}"] = np.asarray(value)
    np.savez_compressed(path, **arrays)
    return path


@dataclass
class Results:
    """The benchmark's results for one model, as :func:`load_results` reads them."""

    model: str
    methods: list[str]
    scores: dict[tuple[str, str], np.ndarray]
    images: dict[tuple[str, str], list[str]]
    extra: dict[str, np.ndarray]

    def table(self, test: str, variant: str) -> np.ndarray:
        """``(N images, M methods)`` per-image scores (NaN: test not applicable)."""
        return self.scores[test, variant]

    def column(self, test: str, variant: str, method: str) -> np.ndarray:
        """One method's per-image scores."""
        return self.scores[test, variant][:, self.methods.index(method)]

    def variants(self, test: str) -> list[str]:
        return [v for (t, v) in self.scores if t == test]

    def curves(self, method: str, fill: str, order: str) -> np.ndarray:
        """Per-image removal curves ``(N, F)``."""
        return self.extra[f"{method}|{fill}|{order}"]

    def summary(self, test: str, variant: str, n_boot: int = 2000, seed: int = 0
                ) -> dict[str, tuple[float, float, float]]:
        """``method → (mean, low, high)``: the mean over images and its 95 % bootstrap
        interval (the same resampled images for every method); applicable methods only."""
        values = self.table(test, variant)
        keep = [j for j in range(values.shape[1]) if np.isfinite(values[:, j]).all()]
        interval = bootstrap_mean(values[:, keep], n_boot=n_boot, seed=seed)
        return {self.methods[j]: (float(m), float(lo), float(hi)) for j, m, lo, hi in
                zip(keep, interval.mean, interval.low, interval.high)}


def load_results(model: str, folder: Path = RESULTS_DIR) -> Results:
    """Read ``benchmark_<model>.npz`` written by :func:`save`."""
    path = Path(folder) / f"benchmark_{model}.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run `python -m course_lib.evaluation."
                                f"benchmark --models {model}` (make evaluate) first")
    with np.load(path, allow_pickle=False) as data:
        methods = [str(m) for m in data["methods"]]
        scores, images, extra = {}, {}, {}
        for key in data.files:
            kind, _, rest = key.partition("|")
            if kind == "score":
                test, variant = rest.split("|", 1)
                scores[test, variant] = data[key].astype(np.float64)
                images[test, variant] = [str(n) for n in data[f"images|{rest}"]]
            elif kind == "extra":
                extra[rest] = data[key]
    return Results(model, methods, scores, images, extra)


def write_summary(results: list[Results], path: Path, n_boot: int = 2000) -> None:
    """One CSV row per model, test, variant and method: mean, 95 % interval, images."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["model", "test", "variant", "method", "mean", "low", "high", "images"])
        for result in results:
            for (test, variant), values in result.scores.items():
                for method, (mean, low, high) in result.summary(test, variant, n_boot).items():
                    writer.writerow([result.model, test, variant, method, f"{mean:.6g}",
                                     f"{low:.6g}", f"{high:.6g}", len(values)])


# ----------------------------------------------------------------------------- the estimate

def estimate(config: Config = Config(), models: tuple[str, ...] = MODELS,
             parts: tuple[str, ...] = PARTS) -> dict[str, float]:
    """Seconds each model needs on two idle cores, from pass counts × :data:`SECONDS_PER_PASS`.

    Counts images through the model (forward, backward, second-order backward) and ROAD
    solves; each randomized or retrained model costs what the trained one does.
    """
    from course_lib.data.benchmark_photos import RECOGNISED

    methods = [m for m in registry.METHODS if config.methods is None or m.name in config.methods]
    seconds: dict[str, float] = {}
    for name in models:
        setup = settings(name)
        cost = SECONDS_PER_PASS[name]
        f, b = map(sum, zip(*(m.passes(setup) for m in methods)))
        per_image_maps = f * cost["forward"] + b * cost["backward"]
        if name == "small_cnn":
            n_gt, n = config.n_ground_truth, config.n_images
            n_variants = 2 * len(SMALL_CNN_CASCADE) - 1 + 2 + 1   # + the shuffled-label model
        else:
            n_gt, n = 0, len(config.photos or RECOGNISED)
            n_variants = 2 * len(LITE0_CASCADE) - 1 + 2
        fractions = len(config.fractions)
        total = 0.0
        if "ground_truth" in parts:
            total += n_gt * per_image_maps
        if "sanity" in parts:
            total += n * per_image_maps * (n_variants + 1)
        if "faithfulness" in parts:
            rows = len(methods) + (1 if name == "small_cnn" else 0)
            forwards = 1 + len(FILLS) * (1 + len(ORDERS) * (fractions - 2))
            road = len(ORDERS) * (fractions - 2)
            total += n * per_image_maps + n * rows * (forwards * cost["forward"]
                                                      + road * cost["road"])
        if "robustness" in parts:
            samples = config.sensitivity_samples[name]
            attackable = [m for m in methods if m.differentiable is not None]
            attack_maps = sum(m.passes(setup)[0] * cost["forward"]
                              + m.passes(setup)[1] * cost["backward"] for m in attackable)
            inner = setup.attack_samples
            doubles = sum(inner if m.family in ("noise", "path") else 1 for m in attackable)
            total += n * (config.infidelity_samples * cost["forward"] + per_image_maps
                          * (samples + 1) + 3 * attack_maps + doubles * cost["double"])
        seconds[name] = total
    return seconds


def settings(name: str) -> Setup:
    """The settings of a model under test, without loading the model (``model`` is a
    placeholder): every method and test uses these on that model."""
    if name == "small_cnn":
        return Setup(name="small_cnn", model=torch.nn.Identity(), cam_layer="features.relu4",
                     occlusion_patch=16, occlusion_stride=8, batch_size=128, block=2,
                     blur_sigma=2.0, attack_samples=16, top_k=100, image_size=64,
                     eg_samples=16, segments=25, lime_samples=50, shap_samples=50,
                     rise_masks=50, rise_cells=7)
    if name == "lite0":
        return Setup(name="lite0", model=torch.nn.Identity(), cam_layer="head",
                     occlusion_patch=32, occlusion_stride=32, batch_size=4, block=4,
                     blur_sigma=5.0, attack_samples=2, top_k=1000, image_size=224,
                     eg_samples=8, segments=25, lime_samples=50, shap_samples=50,
                     rise_masks=50, rise_cells=7)
    raise ValueError(f"unknown model {name!r}; choose from {MODELS}")


# ----------------------------------------------------------------------------- command line

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Every attribution method through every test (notebooks 09–11).")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--quick", action="store_true", help="a few images: a smoke test")
    parser.add_argument("--estimate", action="store_true",
                        help="print the estimated time on two idle cores and stop")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    config = QUICK if args.quick else Config()
    times = estimate(config, tuple(args.models), tuple(args.parts))
    for name, seconds in times.items():
        print(f"estimate {name}: {seconds / 60:.1f} min on two idle cores")
    if args.estimate:
        return 0
    torch.set_num_threads(max(1, torch.get_num_threads()))
    for name in args.models:
        scores, extra = run_model(name, config, tuple(args.parts), not args.no_progress)
        path = save(name, scores, extra, args.out)
        print(f"wrote {path}")
    # the summary covers every model whose results are in the folder
    results = [load_results(name, args.out) for name in MODELS
               if (args.out / f"benchmark_{name}.npz").is_file()]
    write_summary(results, args.out / "benchmark_summary.csv", config.bootstrap)
    print(f"wrote {args.out / 'benchmark_summary.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
