"""Command line for the small CNN of notebook 09 (``make train-cnn``)::

    python -m course_lib.models.train_cnn --train    # retrain, write course_lib/models/weights/small_cnn.pt,
                                              # print test accuracy and SHA-256
    python -m course_lib.models.train_cnn            # test accuracy of the shipped weights

(A separate module, so that ``-m`` does not run :mod:`course_lib.models.small_cnn` a second
time after ``import course_lib`` has imported it.)
"""

from course_lib.models.small_cnn import main

if __name__ == "__main__":
    raise SystemExit(main())
