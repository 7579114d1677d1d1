"""Tests of attribution maps, and the benchmark that runs every method through them.

=====================  =========================================================
``localisation``       ground truth: pointing game, mass inside the mask, ROC-AUC
``sanity_checks``      cascading / independent randomization, the pass criterion
``deletion_insertion`` deletion and insertion; MoRF / LeRF removal curves
``imputation``         fills for removed pixels: black, blurred, ROAD
``robustness``         max-sensitivity and infidelity (Yeh et al. 2019)
``fragility``          the top-k attack (Ghorbani et al. 2019)
``differentiable``     maps with the autograd graph kept, for the attack
``statistics``         bootstrap intervals over images, Kendall's tau, split halves
``registry``           every method in one list (one line each)
``benchmark``          the runner: ``python -m course_lib.evaluation.benchmark``
``report``             the report card: metrics, orientation, agreement
=====================  =========================================================

These modules take methods as arguments (or use ``methods`` directly); nothing in
``methods`` depends on them.
"""
