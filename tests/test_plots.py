"""Figures draw the numbers they are given and say which profile, models and seeds made them."""

import numpy as np
import pandas as pd

from l2m.config import get_profile
from l2m.plots import fig_accuracy, fig_memory_quality, fig_on_policy, fig_seeds

PROFILE = get_profile("cpu")


def title_of(fig) -> str:
    """The figure's title, with the line breaks that fit it to the figure's width undone."""
    return " ".join(fig._suptitle.get_text().split("\n"))


def interval_table(index: pd.MultiIndex, em: list[float], kept: list[float]) -> pd.DataFrame:
    """A summary table of 32 questions per row: EM and answer-in-context with interval columns."""
    em, kept = np.array(em), np.array(kept)
    return pd.DataFrame({
        "n": 32, "em": em, "em_low": em / 2, "em_high": em + 0.1,
        "answer_in_context": kept, "answer_in_context_low": kept - 0.1, "answer_in_context_high": kept + 0.1,
    }, index=index)


def on_policy_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    training = pd.DataFrame({"reward (EM)": [0.0, 0.1], "success share": [0.2, 0.3]}, index=pd.Index([1, 2], name="epoch"))
    index = pd.MultiIndex.from_product([["easy", "hard"], [0, 1, 2]], names=["level", "epoch"])
    test = interval_table(index, em=[0.0, 0.1, 0.2, 0.0, 0.0, 0.1], kept=[0.3, 0.4, 0.5, 0.2, 0.2, 0.3])
    return training, test


def test_the_on_policy_figure_plots_em_and_answer_in_context_per_level_and_epoch():
    training, test = on_policy_frames()
    fig = fig_on_policy(training, test, PROFILE, seeds="0")
    _, em_axis, kept_axis = fig.axes
    for ax, metric in ((em_axis, "em"), (kept_axis, "answer_in_context")):
        drawn = {bars.get_label(): bars.lines[0].get_ydata() for bars in ax.containers}
        assert set(drawn) == {"easy (n=32)", "hard (n=32)"}
        assert list(drawn["hard (n=32)"]) == list(test.xs("hard", level="level")[metric])
        # Levels are dodged sideways, each within a fifth of an epoch of its own epoch.
        easy_x, hard_x = (np.asarray(ax.containers[i].lines[0].get_xdata(), dtype=float) for i in (0, 1))
        assert all(easy < hard for easy, hard in zip(easy_x, hard_x))
        assert np.allclose(np.round(hard_x), [0, 1, 2]) and np.abs(hard_x - np.round(hard_x)).max() <= 0.2
    fig.canvas.draw()
    assert all(float(tick).is_integer() for ax in fig.axes for tick in ax.get_xticks())
    assert fig._repr_png_().startswith(b"\x89PNG")  # a notebook shows it inline, without pyplot
    assert title_of(fig) == "On-policy optimization · profile cpu · LLM SmolLM2-135M-Instruct · encoder all-MiniLM-L6-v2 · seeds 0"


def test_the_seed_figure_names_every_seed_it_shows():
    index = pd.MultiIndex.from_product([["easy"], ["Ours-def", "LTMemory"]])
    spread = pd.DataFrame({"em seed 0": [0.0, 0.2], "em seed 1": [0.0, 0.3], "em seed 2": [0.1, 0.1], "n": 32,
                           "em_mean": [1 / 30, 0.2]}, index=index)
    fig = fig_seeds(spread, PROFILE)
    assert title_of(fig).endswith("profile cpu · LLM SmolLM2-135M-Instruct · encoder all-MiniLM-L6-v2 · seeds 0, 1, 2")
    dots = [line for line in fig.axes[0].get_lines() if line.get_label().startswith("seed")]
    assert [list(line.get_ydata()) for line in dots] == [[0.0, 0.2], [0.0, 0.3], [0.1, 0.1]]


def test_the_accuracy_figure_shows_em_and_answer_in_context_per_level():
    index = pd.MultiIndex.from_product([["easy", "hard"], ["Ours-def", "Ours-on"]], names=["level", "method"])
    table = interval_table(index, em=[0.0, 0.1, 0.0, 0.2], kept=[0.3, 0.5, 0.1, 0.4])
    fig = fig_accuracy(table, PROFILE, seeds="0")
    heights = [[bar.get_height() for bar in ax.patches] for ax in fig.axes]
    assert heights == [[0.0, 0.1], [0.0, 0.2], [0.3, 0.5], [0.1, 0.4]]  # rows: EM, answer in context
    assert [ax.get_title() for ax in fig.axes] == ["easy (n=32)", "hard (n=32)"] * 2


def test_a_single_level_sits_on_its_epochs():
    training, test = on_policy_frames()
    fig = fig_on_policy(training, test.xs("easy", level="level", drop_level=False), PROFILE, seeds="0")
    assert list(fig.axes[1].containers[0].lines[0].get_xdata()) == [0, 1, 2]


def test_a_narrow_figure_keeps_its_whole_title_inside_it():
    """One level makes the memory-quality figure 4.5 inches wide: its provenance title must wrap."""
    index = pd.MultiIndex.from_product([["easy"], ["FUMemory", "Ours-def"]])
    table = interval_table(index, em=[0.2, 0.1], kept=[0.9, 0.2])
    table = table.assign(sf_coverage=[1.0, 0.1], sf_coverage_low=[0.9, 0.0], sf_coverage_high=[1.0, 0.2])
    fig = fig_memory_quality(table, PROFILE, seeds="0")
    fig.canvas.draw()
    title = fig._suptitle.get_window_extent()
    assert "\n" in fig._suptitle.get_text()
    assert 0 <= title.x0 and title.x1 <= fig.bbox.x1
    assert title_of(fig).endswith("profile cpu · LLM SmolLM2-135M-Instruct · encoder all-MiniLM-L6-v2 · seeds 0")
