"""One function per figure; each returns a matplotlib Figure whose title names what made it.

The figures live outside pyplot's registry, so no GUI or backend is needed to draw and save them,
and a notebook shows each once, as a PNG, where its cell returns it.
"""

from __future__ import annotations

import io
import textwrap
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from l2m.config import Profile


class NotebookFigure(Figure):
    """A Figure that Jupyter shows as a PNG whether or not pyplot's inline backend is loaded."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        return buffer.getvalue()


def subplots(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float], **kwargs) -> tuple[Figure, Any]:
    """pyplot.subplots' figure and axes, on a figure pyplot does not manage."""
    fig = NotebookFigure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def centred_offsets(count: int, spacing: float) -> np.ndarray:
    """Sideways offsets, `spacing` apart and centred on 0, for `count` series drawn at one x."""
    return (np.arange(count) - (count - 1) / 2) * spacing


def interval_errors(rows: pd.DataFrame, metric: str) -> list[pd.Series]:
    """matplotlib's yerr for `metric` and its `_low`/`_high` interval columns."""
    return [rows[metric] - rows[f"{metric}_low"], rows[f"{metric}_high"] - rows[metric]]


TITLE_FONTSIZE = 9


def set_title(fig: Figure, text: str) -> None:
    """`text` as the figure's title, wrapped to the figure's width so a narrow figure keeps all of it."""
    # About 0.6 em per character of the default sans-serif font.
    characters_per_line = int(fig.get_figwidth() * 72 / (0.6 * TITLE_FONTSIZE))
    fig.suptitle(textwrap.fill(text, characters_per_line), fontsize=TITLE_FONTSIZE)


def provenance(profile: Profile, seeds: str) -> str:
    return f"profile {profile.name} · LLM {profile.llm.split('/')[-1]} · encoder {profile.encoder.split('/')[-1]} · seeds {seeds}"


def fig_agent_comparison(table: pd.DataFrame, profile: Profile, seeds: str = "0") -> Figure:
    """EM (95% Wilson interval) and the share of well-formed actions, per agent and setting.

    `table` is indexed by (setting, agent), with the columns of l2m.summary.summarize.
    """
    settings = list(dict.fromkeys(table.index.get_level_values(0)))
    agents = list(dict.fromkeys(table.index.get_level_values(1)))
    fig, axes = subplots(1, 2, figsize=(11, 4))
    width = 0.8 / len(agents)
    for offset, agent in zip(centred_offsets(len(agents), width), agents):
        rows = table.xs(agent, level=1).reindex(settings)
        xs = [i + offset for i in range(len(settings))]
        errors = interval_errors(rows, "em")
        axes[0].bar(xs, rows["em"], width, yerr=errors, capsize=3, label=agent)
        axes[1].bar(xs, rows["well_formed"], width, label=agent)
    for ax, label in zip(axes, ["exact match (95% CI)", "well-formed actions"]):
        ax.set_xticks(range(len(settings)), [f"{s}\n(n={int(table.xs(s, level=0)['n'].iloc[0])})" for s in settings])
        ax.set_ylabel(label)
        ax.set_ylim(0, 1)
    axes[0].legend(fontsize=8)
    set_title(fig, f"Small agent on test_easy — {provenance(profile, seeds)}")
    fig.tight_layout()
    return fig


def fig_accuracy(table: pd.DataFrame, profile: Profile, seeds: str = "0") -> Figure:
    """EM (top) and the share of final contexts that hold the gold answer (bottom), with 95% Wilson
    intervals, per method, one column per level; `table` indexed by (level, method). The second row
    tells memories apart where a small agent's EM is 0 for all of them."""
    fig = fig_metrics_by_level(table, {"em": "exact match", "answer_in_context": "gold answer in context"})
    set_title(fig, f"Accuracy per method — {provenance(profile, seeds)}")
    fig.tight_layout()
    return fig


def fig_memory_quality(table: pd.DataFrame, profile: Profile, seeds: str = "0", policy: str = "scripted") -> Figure:
    """Answer-in-context, supporting-fact coverage and EM (95% CIs) per memory and level."""
    metrics = {
        "answer_in_context": "gold answer in context",
        "sf_coverage": "supporting facts kept",
        "em": "exact match",
    }
    fig = fig_metrics_by_level(table, metrics)
    set_title(fig, f"Memory quality under the {policy} policy — {provenance(profile, seeds)}")
    fig.tight_layout()
    return fig


def fig_metrics_by_level(table: pd.DataFrame, metrics: dict[str, str]) -> Figure:
    """One row of panels per metric (with its _low/_high interval columns), one column per level."""
    levels = list(dict.fromkeys(table.index.get_level_values(0)))
    fig, axes = subplots(
        len(metrics), len(levels), figsize=(4.5 * len(levels), 3.2 * len(metrics) + 0.8), sharey="row", squeeze=False
    )
    for row, (metric, label) in enumerate(metrics.items()):
        for ax, level in zip(axes[row], levels):
            rows = table.xs(level, level=0)
            xs = range(len(rows))
            errors = interval_errors(rows, metric)
            ax.bar(xs, rows[metric], yerr=errors, capsize=3, color=f"C{row}")
            ax.set_xticks(xs, rows.index if row == len(metrics) - 1 else [], rotation=60, ha="right", fontsize=8)
            ax.set_title(f"{level} (n={int(rows['n'].iloc[0])})", fontsize=10)
            ax.set_ylim(0, 1)
        axes[row][0].set_ylabel(f"{label}\n(95% CI)")
    return fig


def fig_steps(episodes: dict[str, list[dict]], profile: Profile, max_steps: int = 5, seeds: str = "0") -> Figure:
    """Share of trajectories ending after 1..max_steps steps, per method (the paper's Figure 3)."""
    methods = list(episodes)
    fig, ax = subplots(figsize=(max(6, 0.7 * len(methods)), 4))
    bottom = [0.0] * len(methods)
    for steps in range(1, max_steps + 1):
        shares = [sum(e["steps"] == steps for e in episodes[m]) / len(episodes[m]) for m in methods]
        ax.bar(range(len(methods)), shares, bottom=bottom, label=f"{steps} step{'s' * (steps > 1)}")
        bottom = [b + s for b, s in zip(bottom, shares)]
    ax.set_xticks(range(len(methods)), methods, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("share of trajectories")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    set_title(fig, f"Steps per trajectory — {provenance(profile, seeds)}")
    fig.tight_layout()
    return fig


def fig_seeds(spread: pd.DataFrame, profile: Profile, metric: str = "em") -> Figure:
    """`metric` under each seed (dots) and their mean (bar) per method, one panel per level;
    `spread` is l2m.summary.seed_spread's table."""
    per_seed = [c for c in spread.columns if c.startswith(f"{metric} seed ")]
    levels = list(dict.fromkeys(spread.index.get_level_values(0)))
    fig, axes = subplots(1, len(levels), figsize=(4.5 * len(levels), 4), sharey=True, squeeze=False)
    for ax, level in zip(axes[0], levels):
        rows = spread.xs(level, level=0)
        xs = range(len(rows))
        ax.bar(xs, rows[f"{metric}_mean"], color="C0", alpha=0.4, label="mean")
        for i, column in enumerate(per_seed):
            ax.plot(xs, rows[column], "o", color=f"C{i + 1}", label=column.replace(f"{metric} ", ""))
        ax.set_xticks(xs, rows.index, rotation=60, ha="right", fontsize=8)
        ax.set_title(f"{level} (n={int(rows['n'].iloc[0])} per seed)", fontsize=10)
        ax.set_ylim(0, 1)
    axes[0][0].set_ylabel(f"{metric} per seed")
    axes[0][-1].legend(fontsize=8)
    seeds = ", ".join(c.removeprefix(f"{metric} seed ") for c in per_seed)
    set_title(fig, f"Seeds of the headline comparison — {provenance(profile, seeds)}")
    fig.tight_layout()
    return fig


def fig_gate_weights(weights: dict[str, pd.DataFrame], profile: Profile, seeds: str = "0") -> Figure:
    """Mean gate weight per expert (error bar: spread across query-unit pairs), one bar per gate."""
    fig, ax = subplots(figsize=(9, 3.6))
    width = 0.8 / len(weights)
    for i, (name, table) in enumerate(weights.items()):
        x = [j + i * width for j in range(len(table))]
        ax.bar(x, table["mean"], width, yerr=table["std"], capsize=2, label=name)
    ax.axhline(1 / 8, color="grey", linestyle=":", linewidth=1, label="uniform (1/8)")
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(table))], table.index, rotation=20)
    ax.set_ylabel("gate weight")
    ax.legend(fontsize=8)
    ax.set_title(f"Gate weight per expert · {provenance(profile, seeds)}", fontsize=9)
    fig.tight_layout()
    return fig


def fig_training_curves(history: dict[str, list[float]], profile: Profile, title: str, seeds: str = "0") -> Figure:
    """One panel per logged series (losses, agreement), against the epoch."""
    series = {name: values for name, values in history.items() if values}
    fig, axes = subplots(1, len(series), figsize=(3.6 * len(series), 3), squeeze=False)
    for ax, (name, values) in zip(axes[0], series.items()):
        ax.plot(range(1, len(values) + 1), values)
        ax.set_xlabel("epoch")
        ax.set_title(name, fontsize=9)
    set_title(fig, f"{title} · {provenance(profile, seeds)}")
    fig.tight_layout()
    return fig


def fig_cost(costs: pd.DataFrame, profile: Profile, machine: str, seeds: str = "0") -> Figure:
    """LLM seconds and tokens per agent step, stacked by stage, one bar per method (l2m.cost)."""
    methods = list(dict.fromkeys(costs.index.get_level_values("method")))
    stages = list(dict.fromkeys(costs.index.get_level_values("stage")))
    fig, axes = subplots(1, 2, figsize=(12, 0.35 * len(methods) + 2.2), sharey=True)
    panels = {"LLM seconds per step": ["seconds_per_step"], "tokens per step (prompt + completion)": ["prompt_tokens_per_step", "completion_tokens_per_step"]}
    colours = matplotlib.colormaps["tab20"].colors
    for ax, (title, measures) in zip(axes, panels.items()):
        left = [0.0] * len(methods)
        for k, stage in enumerate(stages):
            values = [sum(costs.loc[(m, stage), c] for c in measures) if (m, stage) in costs.index else 0.0 for m in methods]
            ax.barh(range(len(methods)), values, left=left, label=stage, color=colours[k % len(colours)])
            left = [a + b for a, b in zip(left, values)]
        ax.set_title(title, fontsize=9)
    axes[0].set_yticks(range(len(methods)), methods, fontsize=8)
    axes[0].invert_yaxis()
    axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    set_title(fig, f"Where an episode's LLM time goes · {provenance(profile, seeds)} · {machine}")
    fig.tight_layout()
    return fig


def fig_on_policy(training: pd.DataFrame, test: pd.DataFrame, profile: Profile, seeds: str = "0") -> Figure:
    """Algorithm 1 by epoch: the sampled batch's reward and success share (left); test EM (middle)
    and the share of test contexts that hold the answer (right), each with its 95% interval after
    each epoch, 0 being the off-policy start. `test` is indexed by (level, epoch) with the columns
    of l2m.summary.summarize."""
    fig, axes = subplots(1, 3, figsize=(13, 3.6))
    # The reward is drawn last (on top): at small scale it is often 0 under the success share.
    for column, marker in (("success share", "o"), ("reward (EM)", "x")):
        axes[0].plot(training.index, training[column], marker=marker, label=column)
    axes[0].set_title("training batch", fontsize=9)
    levels = list(dict.fromkeys(test.index.get_level_values("level")))
    for ax, metric, title in ((axes[1], "em", "test EM"), (axes[2], "answer_in_context", "test answer in context")):
        for offset, level in zip(centred_offsets(len(levels), 0.1), levels):
            rows = test.xs(level, level="level")
            errors = interval_errors(rows, metric)
            # Each level is shifted a little sideways so that equal intervals do not hide each other.
            ax.errorbar(rows.index + offset, rows[metric], yerr=errors, marker="o", capsize=3,
                        label=f"{level} (n={rows['n'].iloc[0]})")
        ax.set_title(f"{title} after each epoch (0 = Ours-off)", fontsize=9)
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(0, 1)
        ax.legend(fontsize=8)
    set_title(fig, f"On-policy optimization · {provenance(profile, seeds)}")
    fig.tight_layout()
    return fig
