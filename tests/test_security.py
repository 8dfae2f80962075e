"""No pickles anywhere in the package; any torch.load passes weights_only=True."""

import re
from pathlib import Path

import l2m

PACKAGE = Path(l2m.__file__).parent
SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_the_package_has_sources():
    assert len(SOURCES) > 20


def test_no_pickle_in_the_package():
    pattern = re.compile(
        r"^\s*(import\s+(c?pickle|dill|joblib)|from\s+(c?pickle|dill|joblib)\s+import)|pickle\.loads?\(", re.M
    )
    offenders = [str(p) for p in SOURCES if pattern.search(p.read_text())]
    assert not offenders, f"pickle used in {offenders}"


def test_every_torch_load_is_weights_only():
    for path in SOURCES:
        for call in re.findall(r"torch\.load\([^)]*\)", path.read_text()):
            assert "weights_only=True" in call, f"{path}: {call}"
