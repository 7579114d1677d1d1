"""Tests of attribution maps: ground truth, sanity checks, faithfulness, fragility.

These modules take methods as arguments (or use ``methods`` directly); nothing
in ``methods`` depends on them.
"""
