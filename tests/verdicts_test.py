"""Verdicts on the paper's claims: each rule against hand-made paired
differences whose intervals are known."""

import pytest

from experiments.reproduce import verdicts
from spatialmix_keras import stats

# ------------------------------------------------------- robustness claims


def _entry(label, seed, clean, fgsm, pgd, masking=()):
    return {
        "name": f"{label}_{seed}",
        "label": label,
        "seed": seed,
        "white_box": {"clean_accuracy": clean, "fgsm": fgsm},
        "subset": {"pgd": pgd},
        "masking": list(masking),
    }


def _results(chans_fgsm, chans_pgd, seeds=(0, 1, 2), masking=(), clean=0.8):
    subjects = []
    for seed in seeds:
        wobble = 0.01 * seed
        subjects.append(_entry("Full", seed, 0.8, [0.3 + wobble, 0.1], [0.05]))
        subjects.append(
            _entry(
                "Chans",
                seed,
                clean + wobble / 10,
                [0.3 + wobble + chans_fgsm[seed], 0.1 + chans_fgsm[seed]],
                [0.05 + chans_pgd[seed]],
                masking,
            )
        )
    return {"subjects": subjects}


GAIN = (0.05, 0.06, 0.04)
NONE = (0.0, 0.01, -0.01)


def test_verdict_holds_when_both_attacks_agree_across_seeds():
    verdict, reason = verdicts.more_robust(
        _results(GAIN, GAIN), "Chans", "Full"
    )
    assert verdict == verdicts.HOLDS
    # Mean gain 5 points; paired t interval 5 +- 4.303 * 1 / sqrt(3).
    assert "FGSM +5.0 [+2.5, +7.5] points (n=3)" in reason


def test_verdict_fgsm_only_when_pgd_shows_no_gain_or_masking_is_flagged():
    verdict, _ = verdicts.more_robust(_results(GAIN, NONE), "Chans", "Full")
    assert verdict == verdicts.FGSM_ONLY
    masked = _results(GAIN, GAIN, masking=["FGSM at eps=8/255: ..."])
    verdict, reason = verdicts.more_robust(masked, "Chans", "Full")
    assert verdict == verdicts.FGSM_ONLY and "masking flagged" in reason


def test_the_claim_a_study_decides_follows_its_labels():
    from experiments.reproduce import robustness_report

    both = _results(GAIN, GAIN)
    claim, verdict, _ = robustness_report.claim_verdict(both, "auto", "Full")
    assert (claim, verdict) == ("Chans is more robust than Full", "holds")
    full_only = {
        "subjects": [e for e in both["subjects"] if e["label"] == "Full"]
    }
    assert robustness_report.claim_verdict(full_only, "auto", "Full") is None
    assert robustness_report.claim_verdict(both, "none", "Full") is None
    with pytest.raises(ValueError, match=r"Received labels: \['Full'\]"):
        robustness_report.claim_verdict(full_only, "chans", "Full")


def test_verdict_not_shown_without_a_gain_contradicted_by_a_loss():
    """An interval that includes zero shows nothing either way; one wholly
    below zero excludes the paper's effect; one seed gives no interval."""
    assert (
        verdicts.more_robust(_results(NONE, GAIN), "Chans", "Full")[0]
        == verdicts.NOT_SHOWN
    )
    loss = tuple(-g for g in GAIN)
    assert (
        verdicts.more_robust(_results(loss, loss), "Chans", "Full")[0]
        == verdicts.CONTRADICTED
    )
    one = _results(GAIN, GAIN, seeds=(0,))
    verdict, reason = verdicts.more_robust(one, "Chans", "Full")
    assert verdict == verdicts.NOT_SHOWN and "no interval" in reason


def test_smoothing_verdict_also_weighs_the_clean_accuracy():
    kept = _results(GAIN, GAIN)
    verdict, reason = verdicts.smoothing(kept, "Full")
    assert verdict == verdicts.HOLDS
    assert not reason.startswith("the best of")  # one smoothed model
    costly = _results(GAIN, GAIN, clean=0.75)
    verdict, reason = verdicts.smoothing(costly, "Full")
    assert verdict == verdicts.NOT_SHOWN
    assert "may cost more than 1 point" in reason


def test_smoothing_verdict_is_the_best_level_and_says_it_had_several():
    kept = _results(GAIN, GAIN)
    flat = [
        {**e, "label": "sigma 2"}
        for e in _results(NONE, NONE)["subjects"]
        if e["label"] == "Chans"
    ]
    verdict, reason = verdicts.smoothing(
        {"subjects": kept["subjects"] + flat}, "Full"
    )
    assert verdict == verdicts.HOLDS  # Chans's gain decides
    assert reason.startswith("the best of 2 smoothed models")
    assert "Chans: holds" in reason and "sigma 2: not shown" in reason


def test_unpairable_runs_are_refused():
    twice = _results(GAIN, GAIN, seeds=(0, 0))
    with pytest.raises(ValueError, match="share seed 0"):
        verdicts.more_robust(twice, "Chans", "Full")


# --------------------------------------------------------- accuracy claims


def _d(values):
    """A paired difference (mean, low, high, n) from per-seed differences."""
    return (*stats.mean_ci(values), len(values))


def test_close_and_far_holds_only_when_every_depth_agrees():
    close = _d([-0.01, -0.012, -0.008])  # -1.0 +- 0.5 points
    far = _d([-0.10, -0.11, -0.09])
    assert (
        verdicts.close_and_far({"ResNet-8": {"Chans": close, "Space": far}})[0]
        == verdicts.HOLDS
    )
    # Chans 4 points behind at one depth, clearly: the claim fails there.
    behind = _d([-0.04, -0.041, -0.039])
    verdict, reason = verdicts.close_and_far(
        {
            "ResNet-8": {"Chans": close, "Space": far},
            "ResNet-14": {"Chans": behind, "Space": far},
        }
    )
    assert verdict == verdicts.CONTRADICTED
    assert "ResNet-14: Chans - Full -4.0 [-4.2, -3.8] points (n=3)" in reason
    # Space only 2 points behind: not "far".
    near = _d([-0.02, -0.021, -0.019])
    assert (
        verdicts.close_and_far({"ResNet-8": {"Chans": close, "Space": near}})[0]
        == verdicts.CONTRADICTED
    )


def test_close_and_far_is_not_shown_on_wide_or_missing_intervals():
    wide = _d([0.0, -0.04, 0.01])  # straddles -2 points
    far = _d([-0.10, -0.11, -0.09])
    assert (
        verdicts.close_and_far({"x": {"Chans": wide, "Space": far}})[0]
        == verdicts.NOT_SHOWN
    )
    one = _d([-0.01])
    verdict, reason = verdicts.close_and_far(
        {"x": {"Chans": one, "Space": one}}
    )
    assert verdict == verdicts.NOT_SHOWN and "no interval" in reason
    assert verdicts.close_and_far({})[0] == verdicts.NOT_SHOWN


def test_best_fixed_and_as_well():
    ahead = _d([0.05, 0.06, 0.04])
    assert verdicts.best_fixed({"same": ahead, "box": ahead})[0] == (
        verdicts.HOLDS
    )
    behind = _d([-0.05, -0.06, -0.04])
    assert verdicts.best_fixed({"same": ahead, "box": behind})[0] == (
        verdicts.CONTRADICTED
    )
    assert verdicts.as_well(_d([-0.2, -0.3, -0.1]))[0] == verdicts.HOLDS
    verdict, reason = verdicts.as_well(_d([-3.0, -3.2, -2.8]))
    assert verdict == verdicts.CONTRADICTED and "-3.0 [-3.5, -2.5] dB" in reason


def test_close_and_far_is_not_shown_while_a_depth_has_no_runs():
    """At every depth means every depth of the sweep: ResNet-8 agreeing
    while ResNet-14 has not run is no verdict yet."""
    close, far = (-0.01, -0.015, -0.005, 3), (-0.1, -0.12, -0.08, 3)
    verdict, reason = verdicts.close_and_far(
        {"ResNet-8": {"Chans": close, "Space": far}, "ResNet-14": {}}
    )
    assert verdict == verdicts.NOT_SHOWN
    assert "ResNet-14: no paired runs yet" in reason


def test_smoothing_choice_among_three_sigmas_is_holm_corrected():
    """A gain whose 95% interval clears zero on its own (p = 0.035) does not
    decide when it is the best of three settings: Holm multiplies its p by
    3, and the other two show nothing."""
    edge = (0.02, 0.03, 0.04)  # t = 5.196 on 2 dof: p = 0.035
    subjects = _results(edge, edge)["subjects"]
    alone = {"subjects": subjects}
    assert verdicts.smoothing(alone, "Full")[0] == verdicts.HOLDS
    for other in ("sigma 1", "sigma 2"):
        subjects = subjects + [
            {**e, "label": other, "name": f"{other}_{e['seed']}"}
            for e in _results(NONE, NONE)["subjects"]
            if e["label"] == "Chans"
        ]
    verdict, reason = verdicts.smoothing({"subjects": subjects}, "Full")
    assert verdict == verdicts.NOT_SHOWN
    assert reason.startswith("the best of 3 smoothed models, Holm-corrected")


# ------------------------------------------------------------------ stats


def test_t_test_p_value_is_five_percent_where_the_interval_touches_zero():
    """Independent of the incomplete beta: the t table's 95% quantile on 2
    dof (4.303) is where a paired interval's end reaches zero."""
    half = stats.t95(2) / 3**0.5  # sd 1, n 3
    assert stats.t_test_p_value([half - 1, half, half + 1]) == pytest.approx(
        0.05, abs=2e-4
    )
    assert stats.t_test_p_value([0.1, -0.1, 0.0]) == pytest.approx(1.0)
    assert stats.t_test_p_value([0.5]) != stats.t_test_p_value([0.5])  # NaN


def test_holm_adjusts_step_down_by_hand():
    adjusted = stats.holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": float("nan")})
    # Sorted 0.01, 0.03, 0.04 (k = 3): 3 * 0.01, max(0.03, 2 * 0.03),
    # max(0.06, 1 * 0.04).
    assert adjusted["a"] == pytest.approx(0.03)
    assert adjusted["c"] == pytest.approx(0.06)
    assert adjusted["b"] == pytest.approx(0.06)
    assert adjusted["d"] != adjusted["d"]


def _metrics(**changes):
    metrics = {
        "cpu_model": "Intel Xeon",
        "cpu_flags": ["avx512f", "amx_bf16"],
        "versions": {"tensorflow": "2.21.0", "keras": "3.15.1", "onednn": True},
        "code_version": "abc1234",
    }
    metrics.update(changes)
    return metrics


def test_runs_pair_only_on_the_same_machine_versions_and_commit():
    a = {
        0: (0.80, _metrics()),
        1: (0.81, _metrics()),
        2: (0.79, _metrics(cpu_flags=None)),
        3: (0.78, _metrics()),
    }
    b = {
        0: (0.78, _metrics()),
        1: (0.80, _metrics(cpu_model="AMD EPYC", code_version="def5678")),
        2: (0.77, _metrics()),
        3: (0.76, _metrics(versions={"tensorflow": "2.21.0", "onednn": False})),
    }
    kept_a, kept_b, unpaired = stats.pair_by_machine(a, b)
    assert kept_a == {0: 0.80} and kept_b == {0: 0.78}
    assert unpaired == [
        "seed 1: differ in cpu_model, commit",
        "seed 2: did not record cpu_flags",
        "seed 3: differ in onednn, versions",
    ]


def test_close_and_widens_judge_the_long_study():
    assert verdicts.close(_d([-0.01, -0.012, -0.008]))[0] == verdicts.HOLDS
    assert verdicts.close(_d([-0.04, -0.041, -0.039]))[0] == (
        verdicts.CONTRADICTED
    )
    assert verdicts.close(_d([0.0, -0.04, 0.01]))[0] == verdicts.NOT_SHOWN
    verdict, reason = verdicts.widens(_d([0.03, 0.04, 0.05]), 9, 1)
    assert verdict == verdicts.HOLDS
    assert reason.startswith(
        "(Chans - Full at d = 9) - (Chans - Full at d = 1) +4.0 ["
    )
    assert verdicts.widens(_d([-0.03, -0.04, -0.05]), 9, 1)[0] == (
        verdicts.CONTRADICTED
    )
    assert verdicts.widens(_d([0.03]), 9, 1)[0] == verdicts.NOT_SHOWN
