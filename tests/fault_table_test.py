"""The fault table: every fault and bad input we test, in one place.

Each row says what was done, what the user sees, what is on disk afterwards
and which test does it. docs/reliability.md's "The fault table" is rendered
from `FAULTS` (`python tests/fault_table_test.py` prints it), and the tests
below keep the two identical and check that every test a row names exists.
The row tests themselves live beside their fixtures (the bad-input table of
`bad_input_test.py`, the locks of `files_test.py`, the checkpoints of
`checkpoints_test.py`, the hostile files of `security_test.py`, ...).
"""

import ast
import os
import re
from typing import NamedTuple

TESTS = os.path.dirname(os.path.abspath(__file__))
PAGE = os.path.join(os.path.dirname(TESTS), "docs", "reliability.md")
BAD = "bad_input_test.py::test_bad_input_fails_cleanly_and_changes_nothing"


class Fault(NamedTuple):
    done: str  # what was done
    sees: str  # what the user sees
    disk: str  # what is on disk afterwards
    tests: tuple[str, ...]  # `file::test` or `file::test[case]`


def _bad(case: str) -> tuple[str, ...]:
    return (f"{BAD}[{case}]",)


UNCHANGED = "unchanged"
FAULTS = (
    # Data files.
    Fault(
        "truncated `.npz`",
        "`...: not a readable .npz file (truncated or corrupt?)`",
        UNCHANGED,
        _bad("truncated_npz"),
    ),
    Fault(
        "object-dtype `.npz`",
        "`expected uint8 images and integer labels`",
        UNCHANGED,
        _bad("object_dtype_npz"),
    ),
    Fault(
        "images of the wrong rank",
        "`expected images of shape (N, 32, 32, 3)`",
        UNCHANGED,
        _bad("wrong_rank"),
    ),
    Fault(
        "float pixels out of [0, 255]",
        "the dtype refusal",
        UNCHANGED,
        _bad("float_pixels_out_of_range"),
    ),
    Fault("NaN pixels", "the dtype refusal", UNCHANGED, _bad("nan_pixels")),
    Fault(
        "labels out of range",
        "`labels must lie in [0, 9]`",
        UNCHANGED,
        _bad("labels_out_of_range"),
    ),
    Fault(
        "an empty split", "`the split is empty`", UNCHANGED, _bad("empty_split")
    ),
    Fault(
        "corrupt data for `apps.evaluate`",
        "`not a readable .npz file`",
        UNCHANGED,
        _bad("evaluate_corrupt_data"),
    ),
    Fault(
        "corrupt data for `apps.unshuffle`",
        "`not a readable .npz file`",
        UNCHANGED,
        _bad("unshuffle_truncated_npz"),
    ),
    Fault(
        "labels out of range for `apps.fgsm`",
        "`labels must lie in [0, 9]`",
        UNCHANGED,
        _bad("fgsm_labels_out_of_range"),
    ),
    # Settings.
    Fault(
        "NaN learning rate",
        "`Received: learning_rate=nan`",
        UNCHANGED,
        _bad("learning_rate_nan"),
    ),
    Fault(
        "negative learning rate",
        "`Received: learning_rate=-0.1`",
        UNCHANGED,
        _bad("learning_rate_negative"),
    ),
    Fault(
        "negative learning rate to the un-shuffler",
        "`learning_rate=-1`",
        UNCHANGED,
        _bad("unshuffle_learning_rate_negative"),
    ),
    Fault(
        "NaN eps for `apps.fgsm`",
        "`eps=nan`",
        UNCHANGED,
        _bad("fgsm_eps_nan"),
    ),
    Fault(
        "misspelt config field",
        "`the config has no field 'epoch'. Did you mean 'epochs'?`",
        UNCHANGED,
        _bad("config_field_misspelt"),
    ),
    Fault(
        "misspelt nested config field",
        "`--config.optimizer.lr=0.1: the config has no field 'lr'.`",
        UNCHANGED,
        _bad("nested_config_field_misspelt"),
    ),
    Fault(
        "a flag and its config field disagree",
        "`--seed=3 and --config.seed=5 set the same config field to "
        "different values`",
        UNCHANGED,
        _bad("flag_and_config_field_disagree"),
    ),
    Fault(
        "`--conv` and `--config.model.conv` disagree",
        "`--conv=standard and --config.model.conv=separable set the same "
        "config field ...`",
        UNCHANGED,
        _bad("conv_flag_and_model_field_disagree"),
    ),
    Fault(
        "a model of another family than the config's",
        "`Model 'resnet20' (preact_resnet) takes no argument 'depth' (from "
        "config.model). It takes: ...`",
        UNCHANGED,
        _bad("model_of_another_family_for_the_config"),
    ),
    Fault(
        "`--conv` for a ConvMixer",
        "`Model 'convmixer_tiny' (convmixer) takes no argument 'conv'`",
        UNCHANGED,
        _bad("conv_for_a_convmixer"),
    ),
    # Directories and exports.
    Fault(
        "workdir below a file",
        "`Not a directory`",
        UNCHANGED,
        _bad("unwritable_workdir"),
    ),
    Fault(
        "export dir overlapping the checkpoints",
        "`... overlap ...`",
        UNCHANGED,
        _bad("export_dir_is_backup_dir"),
    ),
    Fault(
        "a second run on a workdir in use",
        "one line naming the holder's pid and host",
        "the first run unaffected",
        (
            "files_test.py::"
            "test_directory_lock_refuses_a_second_holder_and_dies_with_its_"
            "process",
        ),
    ),
    Fault(
        "a second run for an export target in use",
        "one line naming the holder, at its start",
        "the first run unaffected",
        (
            "files_test.py::"
            "test_a_second_run_for_the_same_export_target_stops_at_its_start",
        ),
    ),
    Fault(
        "a used workdir, another config",
        "`holds a run of another config (epochs: 1 there, 2 now)` and how "
        "to go on",
        "unchanged",
        (
            "train_test.py::test_resuming_with_another_optimizer_is_a_clear_error",
        ),
    ),
    Fault(
        "an export that exists",
        "`already exists; pass --overwrite` before training",
        "old export unchanged",
        (
            "train_test.py::test_existing_export_is_refused_before_training",
            "apps_test.py::test_bad_input_exits_nonzero_naming_the_problem",
        ),
    ),
    # Interruptions.
    Fault(
        "full disk during export",
        "`Writing the export ... failed (No space left on device); the "
        "previous export there is unchanged.`",
        "previous export byte-identical",
        (
            "faults_test.py::"
            "test_full_disk_during_export_keeps_the_previous_export",
            "faults_test.py::"
            "test_classify_on_a_full_disk_exits_nonzero_and_keeps_the_export",
        ),
    ),
    Fault(
        "SIGKILL during export",
        "the same command finishes",
        "no partial export under the final name",
        (
            "faults_test.py::"
            "test_kill_during_export_leaves_no_partial_export_and_rerun_"
            "completes",
        ),
    ),
    Fault(
        "SIGKILL mid-training",
        "the same command resumes; finished epochs are not rerun",
        "checkpoints",
        (
            "apps_test.py::"
            "test_run_killed_mid_training_resumes_without_repeating_epochs",
            "faults_test.py::"
            "test_unshuffle_killed_mid_training_resumes_to_a_whole_export",
        ),
    ),
    Fault(
        "SIGTERM / Ctrl-C mid-epoch",
        "`Stopped by SIGTERM at epoch 2, step 7/25; saved to ...`, exit 75",
        "a checkpoint; resume bit-identical",
        (
            "determinism_test.py::"
            "test_sigterm_mid_epoch_saves_and_the_resume_is_bit_identical",
        ),
    ),
    Fault(
        "Ctrl-C during `apps.reproduce`, or SIGTERM to it alone or to its "
        "whole process group",
        "the run says `Stopped by SIGINT ...` (or SIGTERM) in its log; the "
        "sweep: `Run ... was stopped after saving a checkpoint; run the same "
        "command again to resume it.`, no traceback, no process left",
        "the run's checkpoint",
        (
            "reproduce_test.py::test_a_stop_saves_the_run_and_ends_the_sweep_"
            "in_one_line",
        ),
    ),
    Fault(
        "loss turns NaN",
        "non-zero exit before saving",
        "the last good checkpoint",
        (
            "train_test.py::"
            "test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint",
        ),
    ),
    # Checkpoints.
    Fault(
        "newest checkpoint truncated",
        "one warning; resumes from the one before",
        "the corrupt files in `checkpoints/aside/`",
        (
            "checkpoints_test.py::"
            "test_a_truncated_newest_checkpoint_is_set_aside_and_the_previous_"
            "used",
            "checkpoints_test.py::"
            "test_a_run_whose_last_checkpoint_was_truncated_resumes_from_the_"
            "one_before",
        ),
    ),
    Fault(
        "no checkpoint whole",
        "`No whole checkpoint in ...: ckpt-1 did not read back`",
        "moved to `aside/`, never deleted",
        (
            "checkpoints_test.py::"
            "test_no_whole_checkpoint_is_one_error_naming_the_files",
        ),
    ),
    Fault(
        "SIGKILL inside a checkpoint write",
        "the rerun sets the unfinished write aside and resumes",
        "previous checkpoint whole",
        (
            "checkpoints_test.py::"
            "test_killed_inside_a_checkpoint_write_the_rerun_resumes_the_"
            "previous",
        ),
    ),
    Fault(
        "ENOSPC / EROFS / quota during a checkpoint write",
        "`Writing the checkpoint ... failed (No space left on device); the "
        "previous checkpoint ... is whole.`",
        "no partial file",
        (
            "checkpoints_test.py::"
            "test_a_failed_write_keeps_the_previous_checkpoint_loadable",
        ),
    ),
    # Model files.
    Fault(
        "hostile `.keras`: Lambda, nested Lambda, TFSMLayer, nested "
        "TFSMLayer, marshalled code, a foreign class, a foreign function, "
        "truncated",
        "`Refused to load ...: ... safe mode (...)`",
        "nothing executed",
        (
            "security_test.py::test_hostile_keras_file_is_refused",
            "security_test.py::test_evaluate_app_refuses_a_lambda_model",
        ),
    ),
    Fault(
        "`.keras` declaring 1.5 GiB of weights in a few kB",
        "`declares weights of 1526 MiB, above the 1024 MiB this loader reads`",
        "nothing read",
        (
            "security_test.py::"
            "test_weights_declaring_gigabytes_are_refused_before_reading",
        ),
    ),
    Fault(
        "SavedModel without its variables",
        "`Refused to load ...: not a whole SavedModel`",
        "unchanged",
        (
            "security_test.py::test_a_savedmodel_without_its_variables_is_refused",
        ),
    ),
    Fault(
        "0..255 pixels into a float model",
        "`... Divide them by 255 first.`",
        "-",
        ("security_test.py::test_loaded_float_model_refuses_0_255_pixels",),
    ),
    # Attacks.
    Fault(
        "bad eps / attack / input shape for `apps.fgsm`",
        "one line naming the value",
        "no results written",
        (
            "attacks_test.py::test_fgsm_app_refuses_bad_input",
            "attacks_test.py::test_fgsm_app_refuses_a_path_that_is_not_a_model",
        ),
    ),
    Fault(
        "bad flags or non-exports for `apps.robustness`",
        "one line naming the value",
        "no results written, old ones kept",
        (
            "robustness_test.py::test_app_refuses_bad_input",
            "robustness_test.py::test_app_writes_study_report_plots_and_verdict",
        ),
    ),
    Fault(
        "a robustness study stopped half way, or one of its parts cut short",
        "the rerun reads each model's finished share and recomputes the rest",
        "`parts/<model>.json` per finished model",
        (
            "robustness_test.py::"
            "test_a_stopped_study_resumes_from_its_finished_parts",
        ),
    ),
    Fault(
        "a model with masked input gradients",
        "a gradient-masking flag from the transfer attacks",
        "-",
        (
            "robustness_test.py::"
            "test_a_model_with_masked_gradients_is_caught_by_transfer",
        ),
    ),
    # The epoch's end, the workdir and the data, before anything is written.
    Fault(
        "SIGKILL right after each write of an epoch's end in turn (record, "
        "TensorBoard, checkpoint), then the same command",
        "the resumed run trains the unfinished epoch again",
        "the records, metrics and export of an uninterrupted run",
        tuple(
            "epoch_end_test.py::test_kill_at_each_write_of_the_epoch_end_"
            f"resumes_to_the_same_files[{point}]"
            for point in ("history", "summaries", "checkpoint")
        ),
    ),
    Fault(
        "weights or BatchNorm statistics going non-finite while the loss "
        "stays finite",
        "`Non-finite values at the end of epoch N (<variables>): not "
        "checkpointed. The last good checkpoint is ...`",
        "only finite checkpoints",
        ("train_test.py::test_non_finite_weights_are_never_checkpointed",),
    ),
    Fault(
        "`--workdir` that is a file; data missing",
        "`Invalid value for argument `workdir`: ... is a file`; `Cannot "
        "load cifar10_small.npz: ...`",
        "the file unchanged; no workdir created",
        (
            "apps_test.py::"
            "test_a_workdir_that_is_a_file_or_missing_data_is_one_line",
        ),
    ),
    Fault(
        "a bare SavedModel given to `apps.evaluate` or `apps.fgsm` (loading "
        "it runs its graph)",
        "`... is a SavedModel: loading one runs its TensorFlow graph ... "
        "pass --trust_saved_model if you trust its source`; an export "
        "directory loads its `.keras` in safe mode",
        UNCHANGED,
        ("security_test.py::test_a_savedmodel_loads_only_when_trusted",),
    ),
    Fault(
        "a kill between moving the old export aside and renaming the new in",
        "the next start restores the old export (a warning says so)",
        "the old export in place, no hidden `.<name>.old-*`",
        (
            "export_test.py::"
            "test_a_swap_killed_half_way_is_recovered_at_the_next_start",
        ),
    ),
    Fault(
        "`history.json` empty, cut short, of the wrong shape or without "
        "`epoch`, when a run resumes",
        "`.../history.json is not valid JSON (...)` or `...: missing epoch.`",
        UNCHANGED,
        (
            "read_back_test.py::"
            "test_a_broken_history_is_named_when_a_run_resumes",
        ),
    ),
    Fault(
        "a `robustness.json` without its fields, merged",
        "`.../robustness.json: missing subjects.`",
        UNCHANGED,
        ("read_back_test.py::test_a_broken_study_is_named_when_merged",),
    ),
    Fault(
        "a `.keras` whose config nests 200,000 levels deep",
        "`Refused to load ...: it does not load as a plain Keras model in "
        "Keras' safe mode (RecursionError: ...)`",
        UNCHANGED,
        (
            "read_back_test.py::"
            "test_a_keras_file_nested_200000_deep_is_refused_in_one_line",
        ),
    ),
    Fault(
        "a model whose outputs are not one logit per class",
        "`...: expected 10 logits per image (the dataset's classes). "
        "Received: output of shape (1, 3) for one image.`",
        UNCHANGED,
        (
            "read_back_test.py::"
            "test_a_model_without_one_logit_per_class_is_refused",
        ),
    ),
    Fault(
        "a finished run's command run again; with `--restart`",
        "`Already finished: test_accuracy ... export ...` (exit 0); "
        "`--restart` trains from scratch",
        "unchanged; with `--restart` the old workdir at "
        "`<workdir>.replaced-<time>`",
        (
            "apps_test.py::test_classify_then_evaluate_gives_the_recorded_accuracy",
        ),
    ),
)


def _short(test: str) -> str:
    """`bad_input_test::<case>` for a bad-input case, else `file::test`."""
    if test.startswith(BAD):
        return "bad_input_test::" + test[len(BAD) + 1 : -1]
    return test.replace(".py::", "::")


def markdown() -> str:
    """The table of docs/reliability.md."""
    lines = [
        "| # | what was done | what the user sees | on disk afterwards | "
        "test |",
        "| --- | --- | --- | --- | --- |",
    ]
    for number, fault in enumerate(FAULTS, 1):
        tests = ", ".join(f"`{_short(t)}`" for t in fault.tests)
        lines.append(
            f"| {number} | {fault.done} | {fault.sees} | {fault.disk} | "
            f"{tests} |"
        )
    return "\n".join(lines) + "\n"


def _page_table() -> str:
    with open(PAGE) as f:
        text = f.read()
    section = text.split("## The fault table", 1)[1]
    rows = re.findall(r"^\|.*\|$", section.split("\n## ", 1)[0], re.M)
    return "\n".join(rows) + "\n"


def test_documented_fault_table_is_this_table():
    assert len(FAULTS) >= 30
    assert _page_table() == markdown(), (
        "docs/reliability.md's fault table differs from "
        "tests/fault_table_test.py: "
        "paste the output of `python tests/fault_table_test.py`."
    )


def _defined(path) -> tuple[set, dict]:
    """The test functions of a test file, and its bad-input cases."""
    with open(os.path.join(TESTS, path)) as f:
        tree = ast.parse(f.read())
    functions = {
        n.name
        for n in tree.body
        if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")
    }
    cases = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and getattr(node.targets[0], "id", None) == "CASES"
        ):
            cases = {k.value for k in node.value.keys}
    return functions, cases


def test_every_row_names_tests_that_exist():
    named = [t for fault in FAULTS for t in fault.tests]
    assert len(named) == len(set(named))
    for test in named:
        path, name = test.split("::")
        function, _, case = name.partition("[")
        functions, cases = _defined(path)
        assert function in functions, test
        if case:
            assert case[:-1] in cases, test
    # Every bad-input case is a row.
    _, cases = _defined("bad_input_test.py")
    assert {t for t in named if t.startswith(BAD)} == {
        f"{BAD}[{c}]" for c in cases
    }


if __name__ == "__main__":
    print(markdown(), end="")
