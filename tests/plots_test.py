"""What every plot shows: accuracy in percent from 0 to 100 with the chance
line, markers side by side, and the smoke scale marked as no result."""

import pytest

from experiments.reproduce.figures import common
from spatialmix_keras import plots


@pytest.fixture
def drawn(monkeypatch):
    """The figures the plotting functions draw, kept instead of closed."""
    figures = []
    close = plots.plt.close

    def keep(fig=None):
        figures.append(fig)
        close(fig)

    monkeypatch.setattr(plots.plt, "close", keep)
    return figures


def test_eps_sweep_plot_is_percent_with_chance_and_no_hidden_marker(
    drawn, tmp_path
):
    curves = [
        {"label": name, "attack": "fgsm", "eps": [0, 1 / 255], "accuracy": acc}
        for name, acc in (("Full", [0.8, 0.3]), ("Chans", [0.8, 0.3]))
    ]
    plots.plot_eps_sweep(curves, str(tmp_path / "a.png"))
    (ax,) = drawn[-1].axes
    assert ax.get_ylim() == (0, 100)
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines["chance"].get_ydata()) == [10, 10]
    full, chans = lines["Full (FGSM)"], lines["Chans (FGSM)"]
    assert list(full.get_ydata()) == [80, 30]  # percent
    # Same values, yet neither hides the other: shifted along epsilon.
    shifted = zip(full.get_xdata(), chans.get_xdata(), strict=True)
    assert all(a != b for a, b in shifted)


def test_every_smoke_scale_figure_says_it_is_no_result(tmp_path):
    fig = common.plt().figure()
    common.save_figure(common.plt(), fig, str(tmp_path), "f", "smoke")
    assert [t.get_text() for t in fig.texts] == [common.SMOKE_LABEL]
    other = common.plt().figure()
    common.save_figure(common.plt(), other, str(tmp_path), "g", "cifar")
    assert other.texts == []


def test_training_length_marks_panels_without_points_not_measured(
    drawn, tmp_path
):
    # A study without kept checkpoints: only the final filter statistics.
    results = {
        "settings": {
            "fgsm_eps": [1 / 255],
            "pgd_eps": [1 / 255],
            "high_frequency_cutoff": 0.25,
        },
        "subjects": [
            {
                "label": label,
                "seed": 0,
                "epochs": [
                    {
                        "epoch": 50,
                        "final": True,
                        "filter_movement": None,
                        "high_frequency_share": share,
                    }
                ],
            }
            for label, share in (("Full", 0.66), ("Chans", 0.81))
        ],
    }
    plots.plot_training_length(results, str(tmp_path / "t.png"))
    axes = drawn[-1].axes
    marked = [
        any(t.get_text() == "not measured" for t in ax.texts) for ax in axes
    ]
    # clean, FGSM, PGD, movement: nothing to draw; the energy share: drawn.
    assert marked == [True, True, True, True, False]
    assert not axes[0].lines  # no chance line on an empty panel
    assert axes[4].get_legend() is not None
