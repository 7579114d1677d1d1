"""Images for the course: scikit-image's bundled photos, a learner's own file, and the
synthetic shapes whose class evidence is known pixel by pixel."""
