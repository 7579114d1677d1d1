"""The one call at the top of every notebook."""

from __future__ import annotations

import os
import platform
import random
from importlib.metadata import version

import numpy as np
import torch

from course_lib.teaching.plotting import set_style


def setup(seed: int = 0, threads: int | None = None, device: str | None = None,
          verbose: bool = True) -> torch.device:
    """Seed every random generator, set the figure style and thread count, pick the device.

    ``device`` defaults to CUDA when available, else the CPU; ``threads`` to the
    number of CPU cores. Returns the device so that models and images can follow it.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads or os.cpu_count() or 1)
    set_style()
    chosen = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if verbose:
        print(f"Python {platform.python_version()} | torch {torch.__version__} | "
              f"torchvision {version('torchvision')}")
        print(f"device: {chosen} | seed: {seed}")
    return chosen
