"""One function per figure; each returns a matplotlib Figure whose title names what made it."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from l2m.config import Profile  # noqa: E402


def provenance(profile: Profile, seeds: str) -> str:
    return f"profile {profile.name} · LLM {profile.llm.split('/')[-1]} · encoder {profile.encoder.split('/')[-1]} · seeds {seeds}"


def fig_agent_comparison(table: pd.DataFrame, profile: Profile, seeds: str = "0") -> plt.Figure:
    """EM (95% Wilson interval) and the share of well-formed actions, per agent and setting.

    `table` is indexed by (setting, agent), with the columns of l2m.evaluate.summarize.
    """
    settings = list(dict.fromkeys(table.index.get_level_values(0)))
    agents = list(dict.fromkeys(table.index.get_level_values(1)))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / len(agents)
    for k, agent in enumerate(agents):
        rows = table.xs(agent, level=1).reindex(settings)
        xs = [i + (k - (len(agents) - 1) / 2) * width for i in range(len(settings))]
        errors = [rows["em"] - rows["em_low"], rows["em_high"] - rows["em"]]
        axes[0].bar(xs, rows["em"], width, yerr=errors, capsize=3, label=agent)
        axes[1].bar(xs, rows["well_formed"], width, label=agent)
    for ax, label in zip(axes, ["exact match (95% CI)", "well-formed actions"]):
        ax.set_xticks(range(len(settings)), [f"{s}\n(n={int(table.xs(s, level=0)['n'].iloc[0])})" for s in settings])
        ax.set_ylabel(label)
        ax.set_ylim(0, 1)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Small agent on test_easy — {provenance(profile, seeds)}", fontsize=9)
    fig.tight_layout()
    return fig
