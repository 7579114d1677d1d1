"""What a learner touches besides the methods: exercise checkers, the SmoothGrad
explorer, the plotting style and the ``setup()`` call at the top of every notebook."""
