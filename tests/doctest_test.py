"""Runs the `>>>` examples of the public modules' docstrings."""

import doctest

import numpy as np
import pytest

import spatialmix_keras
from spatialmix_keras import files, initializers, layers, models, progress


@pytest.mark.parametrize(
    "module", [files, initializers, layers, models, progress]
)
def test_docstring_examples_run(module):
    result = doctest.testmod(
        module,
        extraglobs={"np": np, "spatialmix_keras": spatialmix_keras},
        optionflags=doctest.ELLIPSIS,
        verbose=False,
    )
    assert result.attempted > 0
    assert result.failed == 0
