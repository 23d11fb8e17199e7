"""The campaign driver and the `long` study's queue."""

import json
import os

from experiments import campaign, long_study

HERE = {"cpu_model": "Intel Xeon", "cpu_flags": ["amx_bf16"], "onednn": "1"}
THERE = {**HERE, "cpu_model": "AMD EPYC"}


def _mark(workdir, kind, name, where):
    campaign._write(campaign._marker(workdir, kind, name), {"machine": where})


def test_long_study_trains_each_seed_back_to_back_and_names_what_differs():
    runs = long_study.runs()
    groups = [r["group"] for r in runs]
    # Contiguous groups: a seed's runs are never split around another's.
    assert groups == sorted(groups, key=groups.index)
    names = {r["name"] for r in runs}
    assert len(names) == len(runs) == 5 * 7 + 3 * 6
    assert "resnet8_d9_chans_e50_s4" in names
    assert "resnet8_d1_full_e50_s2" in names
    assert "resnet8_d1_full_e50_s3" not in names  # controls: 3 seeds
    chans = next(r for r in runs if r["name"] == "resnet8_d3_chans_e50_s0")
    assert "--config.model.depth_multiplier=3" in chans["args"]
    assert "--config.freeze=spatial" in chans["args"]


def test_a_group_split_by_a_machine_change_is_trained_again(tmp_path):
    workdir = str(tmp_path)
    entries = [
        {"name": n, "group": g, "app": "classify", "args": []}
        for n, g in [("a0", "s0"), ("b0", "s0"), ("a1", "s1"), ("b1", "s1")]
    ]
    # s0: one run finished elsewhere, its partner not: retrain both here.
    _mark(workdir, "started", "a0", THERE)
    _mark(workdir, "done", "a0", THERE)
    os.makedirs(os.path.join(workdir, "runs", "a0"))
    # s1: finished elsewhere as a whole: kept.
    for name in ("a1", "b1"):
        _mark(workdir, "started", name, THERE)
        _mark(workdir, "done", name, THERE)
    campaign.retrain_split_groups(entries, workdir, HERE)
    assert not os.path.exists(campaign._marker(workdir, "done", "a0"))
    assert not os.path.exists(os.path.join(workdir, "runs", "a0"))
    (moved,) = os.listdir(os.path.join(workdir, "superseded"))
    assert os.path.isdir(
        os.path.join(workdir, "superseded", moved, "runs", "a0")
    )
    for name in ("a1", "b1"):
        with open(campaign._marker(workdir, "done", name)) as f:
            assert json.load(f)["machine"] == THERE
