import pandas as pd
import pytest

from l2m.metrics import exact_match, f1_score, normalize_answer, paired_difference, wilson_interval


def test_normalisation_is_squad():
    assert normalize_answer("  The  Eiffel-Tower!  ") == "eiffeltower"
    assert normalize_answer("An apple a day") == "apple day"


@pytest.mark.parametrize(
    "pred, gold, em",
    [("Paris", "paris", 1.0), ("the Paris.", "Paris", 1.0), ("Paris, France", "Paris", 0.0), ("", "Paris", 0.0)],
)
def test_exact_match(pred, gold, em):
    assert exact_match(pred, gold) == em


def test_f1_hand_computed():
    # prediction tokens: new york city (3); gold: new york (2); overlap 2
    # precision 2/3, recall 1 -> F1 = 2 * (2/3) / (5/3) = 0.8
    assert f1_score("New York City", "New York") == pytest.approx(0.8)
    assert f1_score("yes", "no") == 0.0
    assert f1_score("yes", "Yes.") == 1.0
    assert f1_score("Berlin", "Paris") == 0.0


def test_wilson_interval_hand_computed():
    low, high = wilson_interval(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-4) and high == pytest.approx(0.7634, abs=1e-4)
    assert wilson_interval(0, 20)[0] == 0.0 and wilson_interval(0, 20)[1] == pytest.approx(0.1611, abs=1e-4)
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_mean_interval_of_nothing_is_nan_and_bounds_clip():
    import math

    from l2m.metrics import mean_interval

    assert all(math.isnan(v) for v in mean_interval([]))
    assert mean_interval([5.0], bounds=(0.0, math.inf)) == (5.0, 0.0, math.inf)
    mean, low, high = mean_interval([0.0, 1.0, 1.0, 1.0])
    assert mean == 0.75 and low > 0.0 and high == 1.0


def test_paired_difference_is_exact_for_constant_differences_and_seeded():
    assert paired_difference([1, 1, 1], [0, 0, 0]) == (1.0, 1.0, 1.0)
    assert paired_difference([1], [0]) == (1.0, -1.0, 1.0)  # one pair says nothing about the spread
    assert paired_difference([0, 1, 0], [0, 1, 0]) == (0.0, 0.0, 0.0)
    a, b = [1, 0, 1, 1, 0, 1, 0, 1], [0, 0, 1, 0, 0, 1, 1, 0]
    diff, low, high = paired_difference(a, b, seed=3)
    assert diff == pytest.approx(0.25) and low < 0.25 < high
    assert paired_difference(a, b, seed=3) == (diff, low, high)
    with pytest.raises(ValueError, match="equal"):
        paired_difference([1, 0], [1])


def test_differences_from_a_reference_say_when_they_are_inside_the_noise():
    from l2m.summary import differences_from

    def episodes(rewards):
        return [{"question_id": f"q{i}", "reward": r, "answer": "", "gold_answer": "x"} for i, r in enumerate(rewards)]

    runs = {
        ("hard", "base"): episodes([0] * 40),
        ("hard", "always"): episodes([1] * 40),
        ("hard", "one more"): episodes([1] + [0] * 39),
    }
    table = differences_from(runs, "base")
    assert list(table.index) == [("hard", "always"), ("hard", "one more")]
    assert table.loc[("hard", "always"), "em_diff"] == 1.0 and not table.loc[("hard", "always"), "inside_noise"]
    assert table.loc[("hard", "one more"), "n"] == 40 and table.loc[("hard", "one more"), "inside_noise"]


def test_seed_spread_hand_computed_and_zero_for_identical_seeds():
    from l2m.summary import seed_spread

    index = pd.MultiIndex.from_tuples([("hard", "Ours-def"), ("hard", "FUMemory")], names=["level", "method"])

    def table(ours, fu):
        return pd.DataFrame({"n": [32, 32], "em": [ours, fu]}, index=index)

    spread = seed_spread({2: table(0.25, 0.1), 0: table(0.0, 0.1), 1: table(0.5, 0.1)})
    assert list(spread.columns[:3]) == ["em seed 0", "em seed 1", "em seed 2"]
    ours = spread.loc[("hard", "Ours-def")]
    assert ours["em_mean"] == pytest.approx(0.25) and ours["em_sd"] == pytest.approx(0.25)
    assert (ours["em_min"], ours["em_max"], ours["seeds"], ours["n"]) == (0.0, 0.5, 3, 32)
    assert spread.loc[("hard", "FUMemory"), "em_sd"] == pytest.approx(0.0, abs=1e-12)


def test_an_episode_that_ran_out_of_steps_counts_as_unanswered():
    from l2m.summary import summarize

    def episode(answer, steps):
        action = f"Finish[{answer}]" if answer is not None else "Search[Paris]"
        return {"reward": float(answer == "Paris"), "answer": answer, "gold_answer": "Paris", "gold_titles": ["Paris"],
                "steps": steps, "llm_seconds": 1.0 * steps, "prompt_tokens": 10, "completion_tokens": 2,
                "step_records": [{"action": action, "action_valid": True}]}

    # Two answered (one right, one wrong: both count), three ran out of their 5 steps.
    row = summarize([episode("Paris", 2), episode("Rome", 3), *[episode(None, 5) for _ in range(3)]])
    assert row["answered"] == pytest.approx(2 / 5)
    assert (row["answered_low"], row["answered_high"]) == wilson_interval(2, 5)
    assert row["em"] == pytest.approx(1 / 5) and (row["em_low"], row["em_high"]) == wilson_interval(1, 5)
    assert row["mean_steps"] == pytest.approx(20 / 5)
