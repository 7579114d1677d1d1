"""What PyTorch itself costs a kernel: resident memory after each step of a minimal session.

    python tests/memory_probe.py       # with the interpreter of the environment to measure

Prints the resident memory (RSS) after ``import torch``, after ``import course_lib`` with the
model and one photo loaded, and after one vanilla gradient (with the peak so far). Run it with
the Python of each environment to compare PyTorch builds (PyPI's default build with CUDA
libraries, the CPU-only wheels, conda-forge's ``pytorch-cpu``).
"""

import resource


def rss_mb() -> float:
    """Current resident memory of this process in MB (2**20 bytes), from /proc."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def peak_mb() -> float:
    """Peak resident memory of this process so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    import torch
    print(f"torch {torch.__version__}")
    print(f"import torch                   {rss_mb():5.0f} MB")
    import course_lib as course
    model = course.load_efficientnet_lite0()
    photo = course.load_photos(("chelsea",))
    print(f"+ course_lib, model, one photo {rss_mb():5.0f} MB")
    course.vanilla_gradient(model, photo, 285, batch_size=1)
    print(f"+ one gradient                 {rss_mb():5.0f} MB (peak {peak_mb():.0f} MB)")


if __name__ == "__main__":
    main()
