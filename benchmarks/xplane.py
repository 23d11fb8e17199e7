"""Kernel time per op type, read from a TensorFlow profiler trace (XSpace).

`op_times` sums, on TensorFlow's compute threads, the events of kernels
(`<node name>:<OpType>`) and of XLA executions, each once (events nested in
one already counted are skipped); `group_of` names an op type's group.
"""

from __future__ import annotations

import collections
import re

# Op-type substrings to groups, first match wins.
GROUPS = (
    ("depthwise convolution", ("Depthwise",)),
    ("convolution", ("Conv2D", "MatMul", "Einsum")),
    ("batchnorm", ("BatchNorm",)),
    ("xla loops", ("ExecuteAsyncOnStream",)),
    ("cast", ("Cast",)),
    ("variables and optimizer", ("Variable", "Assign", "Resource")),
)
XLA_EVENT = "CpuExecutable::ExecuteAsyncOnStream"
# A kernel's event: `<node name>:<OpType>` (not `Class::method`).
_KERNEL = re.compile(r"[^:]+(?<!:):[A-Za-z_][A-Za-z0-9_]*")


def group_of(op_type):
    for group, keys in GROUPS:
        if any(key in op_type for key in keys):
            return group
    return "other elementwise and reductions"


def op_times(xspace):
    """Total picoseconds per op type on TensorFlow's compute threads.

    Counts events named `<node>:<OpType>` (TensorFlow kernels) and XLA
    executions, and nothing nested inside them.
    """
    totals = collections.Counter()
    for plane in xspace.planes:
        names = {k: v.name for k, v in plane.event_metadata.items()}
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            covered_until = -1
            for event in sorted(line.events, key=lambda e: e.offset_ps):
                name = names.get(event.metadata_id, "")
                if name == XLA_EVENT:
                    op_type = "ExecuteAsyncOnStream"
                elif _KERNEL.fullmatch(name):
                    op_type = name.rsplit(":", 1)[1]
                else:
                    continue  # the executor's own events, Python, ...
                if event.offset_ps < covered_until:
                    continue  # nested in an event already counted
                totals[op_type] += event.duration_ps
                covered_until = event.offset_ps + event.duration_ps
    return totals
