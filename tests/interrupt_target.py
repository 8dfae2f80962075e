"""Plays FUMemory episodes with a slow scripted LLM into a given run folder (for test_interrupt.py).

python tests/interrupt_target.py RUN_DIR N_QUESTIONS
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from conftest import ScriptedChatModel  # noqa: E402
from l2m.config import get_profile  # noqa: E402
from l2m.workspace import Workspace  # noqa: E402


def respond(prompt: str) -> str:
    """Deterministic but question-dependent: search once, then answer with a word of the question."""
    time.sleep(0.02)
    if "Choose one of the following actions" not in prompt:
        return "I will look this up."
    if "Observation (Step 2)" in prompt:
        question = prompt.split("The question is: ", 1)[1].split("\n", 1)[0]
        return f"Finish[{question.split()[len(question) % 5]}]"
    return "Search[England]"


def run(run_dir: Path, n: int) -> list[dict]:
    ws = Workspace(get_profile("smoke").replace(live_episodes=2), run_dir=run_dir)
    ws.llm = ws.agent_llm = ScriptedChatModel(respond)
    ws.agent_adapter = None
    return ws.run_method("FUMemory", ws.splits["test_easy"][:n])


if __name__ == "__main__":
    run(Path(sys.argv[1]), int(sys.argv[2]))
