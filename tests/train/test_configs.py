"""The ready-made configs in configs/ load and build a valid TrainConfig."""
from __future__ import annotations

from pathlib import Path

import pytest

from cleanlab_lite.config import DataConfig, TrainConfig, build, load_yaml

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
MINE = ["small-images.yaml", "large-images.yaml", "tabular.yaml", "embeddings.yaml", "imbalanced.yaml"]


@pytest.mark.parametrize("name", MINE)
def test_config_builds(name):
    sections = load_yaml(CONFIGS / name)
    train = build(TrainConfig, sections.get("train"), source=name)
    build(DataConfig, sections.get("data"), source=name)
    assert isinstance(train, TrainConfig)
