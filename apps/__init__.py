"""The package's command-line apps: `python -m apps.<name>`.

Importing `apps` quiets TensorFlow's warnings and turns its oneDNN CPU
kernels on unless the environment already decides
(`TF_ENABLE_ONEDNN_OPTS=0` keeps them off).
TensorFlow turns them on by itself only on x86 CPUs with AVX-512 class
features; on an AVX2-only AMD EPYC they made the cifar-scale training steps
1.43-2.29x faster (`benchmarks/onednn.py`, 2026-12-04). TensorFlow reads the
variable once, when it loads, so it is set here, before any app imports it;
the runs a sweep starts inherit it. Each run's `metrics.json` records
whether oneDNN ran (`versions.onednn`): the two paths round differently.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
# TensorFlow's own warnings off (`apps.common.load_tensorflow_quietly`
# silences the start-up lines it prints regardless); the user's setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
