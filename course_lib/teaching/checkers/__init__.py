"""The exercise checkers, one module per notebook; :mod:`course_lib.teaching.check`
gathers them under one name (``course.check``)."""
