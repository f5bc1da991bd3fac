"""Overrides the project-wide autouse ``_keras_seed`` fixture for this folder.

Same seeding and session clearing, but ``clear_session(free_memory=False)``: the default
``free_memory=True`` runs ``gc.collect()`` after every test (~0.7 s each with TensorFlow
loaded), which would dominate the run time of these mostly-numpy tests.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _keras_seed():
    import keras

    keras.utils.set_random_seed(1234)
    yield
    keras.backend.clear_session(free_memory=False)
