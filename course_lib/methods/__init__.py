"""The attribution methods, one module per family.

Every method has the signature ``method(model, inputs, target, ...)`` described in
``course_lib``'s docstring. They depend only on the root modules (``checks``,
``model_state``, ``maps``), never on ``evaluation`` or ``teaching``.
"""
