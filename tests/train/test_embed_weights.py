"""Embed once with a backbone (cache reused on a rerun) and --pretrained: a local file, weights by
name from a pre-seeded torch cache (no network), and the offline error."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
from click.testing import CliRunner

from cleanlab_lite.cli import main
from cleanlab_lite.train import models, pretrained
from tests.conftest import write_pngs

R18_FILE = "resnet18-f37072fd.pth"      # the file name in ResNet18_Weights.IMAGENET1K_V1's URL


def cli(*args, code: int = 0):
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert r.exit_code == code, r.output
    return r


@pytest.fixture(scope="module")
def r18_state():
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None).state_dict()


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    home = tmp_path / "torch-home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.setenv(pretrained.OFFLINE_ENV, "1")
    return home


@pytest.fixture
def images(tmp_path):
    df = write_pngs(tmp_path / "img", n_per_class=15, k=2, size=16, rgb=True)
    df.loc[[3, 20], "label"] = df.loc[[3, 20], "label"].map({"class0": "class1", "class1": "class0"})
    p = tmp_path / "images.csv"
    df.to_csv(p, index=False)
    return p


@pytest.mark.slow
def test_backbone_embeds_once_and_the_cache_is_reused(tmp_path, images, r18_state):
    torch.save(r18_state, tmp_path / "r18.pth")
    run = tmp_path / "run"
    args = ("train", images, "--out", run, "--backbone", "resnet18", "--pretrained",
            tmp_path / "r18.pth", "--folds", 3, "--quiet")
    r = cli(*args)
    assert "Embedded 30 images with resnet18 (512 features)" in r.output and "(cached)" not in r.output
    m = json.loads((run / "metrics.json").read_text())
    assert m["model"] == "logreg" and m["backbone"]["dim"] == 512
    assert m["backbone"]["cache_reused"] is False
    cache = sorted((run / "cache").glob("embed-*.npy"))
    assert len(cache) == 1 and np.load(cache[0]).shape == (30, 512)
    stamp = cache[0].stat().st_mtime_ns
    cli("rank", run)
    ranking = pd.read_csv(run / "ranking.csv")
    assert set(ranking["row"].head(2)) == {3, 20}            # the two flipped images on top

    r = cli(*args)                                           # rerun: embeddings and folds reused
    assert "(cached)" in r.output
    m = json.loads((run / "metrics.json").read_text())
    assert m["backbone"]["cache_reused"] is True and m["reused_folds"] == 3
    assert cache[0].stat().st_mtime_ns == stamp
    cli(*args[:-1], "--head", "hgb", "--quiet")              # another head: same embeddings
    m = json.loads((run / "metrics.json").read_text())
    assert m["model"] == "hgb" and m["backbone"]["cache_reused"] is True and m["trained_folds"] == 3


def test_backbone_needs_images_and_no_model(tmp_path, images):
    r = cli("train", images, "--out", tmp_path / "run", "--backbone", "resnet18", "--model", "cnn",
            code=2)
    assert r.output.strip() == ("Error: --model cnn and --backbone resnet18 were both given; with "
                                "--backbone choose the model trained on the embeddings with --head")
    r = cli("train", images, "--out", tmp_path / "run", "--backbone", "not_a_net", code=2)
    assert r.output.strip().startswith("Error: --backbone 'not_a_net' is not a torchvision")


@pytest.mark.slow
def test_weights_by_name_from_a_preseeded_torch_cache(torch_home, r18_state):
    member = pretrained.weights_enum_member("resnet18", "imagenet")
    assert str(member) == "ResNet18_Weights.IMAGENET1K_V1"
    path = pretrained.cache_file(member)
    assert path == torch_home / "hub" / "checkpoints" / R18_FILE
    path.parent.mkdir(parents=True)
    torch.save(r18_state, path)
    for spec in ("imagenet", "DEFAULT", "IMAGENET1K_V1"):
        net = models.build_model("resnet18", (3, 32, 32), 4, pretrained=spec)
        assert torch.equal(net.net.layer1[0].conv1.weight, r18_state["layer1.0.conv1.weight"])
        assert net.net.fc.out_features == 4
    with pytest.raises(Exception, match="has no member IMAGENET9K"):
        models.build_model("resnet18", (3, 32, 32), 4, pretrained="IMAGENET9K")


def test_offline_without_cached_weights_is_one_line_exit_2(tmp_path, torch_home, images):
    r = cli("train", images, "--out", tmp_path / "run", "--model", "resnet18", "--pretrained",
            "imagenet", "--epochs", 1, code=2)
    path = torch_home / "hub" / "checkpoints" / R18_FILE
    assert r.output.strip() == (
        "Error: --pretrained imagenet: resnet18 weights ResNet18_Weights.IMAGENET1K_V1 are not in "
        f"torch's cache and CLEAN_LABELS_OFFLINE is set; download "
        f"https://download.pytorch.org/models/{R18_FILE} and put it at {path} (torch's cache: "
        "$TORCH_HOME/hub/checkpoints), or pass --pretrained FILE")
    assert not (tmp_path / "run" / "config.yaml").exists()     # only the reusable image cache
