"""Planted bugs in the placement of CAM maps (receptive-field centres and upsampling)."""

from mutants import Mutant

CAM = "course_lib/methods/cam.py"
TESTS = ("tests/test_cam_placement.py",)

MUTANTS = [
    Mutant(CAM, "-float(p) + d * (k - 1) / 2", "d * (k - 1) / 2",
           "a window's padding ignored: every centre shifted by the padding", TESTS),
    Mutant(CAM, "-float(p) + d * (k - 1) / 2", "-float(p) + (k - 1) / 2",
           "dilation ignored: a dilated kernel's centre placed as if it were dense", TESTS),
    Mutant(CAM, 'return "shift", (-float(pad[2]), -float(pad[0]))  # F.pad',
           'return "shift", (0.0, 0.0)  # F.pad',
           "explicit F.pad ignored: TensorFlow 'same' padding of EfficientNet-Lite0 lost", TESTS),
    Mutant(CAM, 'return "shift", (-float(pad[2]), -float(pad[0]))  # F.pad',
           'return "shift", (-float(pad[0]), -float(pad[2]))  # F.pad',
           "F.pad's (left, right, top, bottom) read as (top, bottom, left, right)", TESTS),
    Mutant(CAM, "stride = tuple(_saved(node, \"_saved_stride\") or kernel)",
           "stride = tuple(_saved(node, \"_saved_stride\") or (1, 1))",
           "a pool without an explicit stride taken as stride 1", TESTS),
    Mutant(CAM, "return (ra * step, ra * start + rb, ca, cb)", "return (ra * step, rb, ca, cb)",
           "a spatial slice's start ignored", TESTS),
    Mutant(CAM, "if any(abs(a - b) > 1e-6 for a, b in zip(grid, grids[0])):",
           "if False:",
           "branches that disagree about a cell's position silently take the first", TESTS),
    Mutant(CAM, "AxisGrid(row_scale, row_shift + 0.5)", "AxisGrid(row_scale, row_shift)",
           "pixel centres at p instead of p + 0.5 (rows)", TESTS),
    Mutant(CAM, "t = ((pixels - centres[left]) / (centres[right] - centres[left])).clamp(0, 1)",
           "t = ((pixels - centres[left]) / (centres[right] - centres[left]))",
           "extrapolates beyond the outermost centres instead of holding the border value",
           TESTS),
    Mutant(CAM, 'return _cam(model, inputs, target, layer, upsample, batch_size, "mean_gradient",\n'
                "                placement)",
           'return _cam(model, inputs, target, layer, upsample, batch_size, "mean_gradient",\n'
           '                "stretch")',
           "grad_cam ignores its placement argument", TESTS),
    Mutant(CAM, "placement=placement)\n    return guided_backprop",
           ")\n    return guided_backprop",
           "guided_grad_cam does not pass its placement on to Grad-CAM", TESTS),
    Mutant(CAM, "grid = grid or chunk_grid", "grid = chunk_grid",
           "only the first chunk is placed; later chunks are stretched (batch_size matters)",
           TESTS),
]
