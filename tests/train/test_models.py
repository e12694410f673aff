"""Every torchvision model the CLI accepts: its named head is replaced, it trains (forward and
backward) at its smallest accepted size, and the size rule agrees with the architecture."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from cleanlab_lite.errors import ConfigError
from cleanlab_lite.train import models
from tests.expect import assert_fragments

SIDES = (8, 28, 32, 224)
K = 3


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny batches: a second thread only adds waiting (see train.threads.cpu_threads)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def smallest_side(name: str) -> int:
    """The smallest of SIDES (or vit's smallest patch multiple) that check_input_size accepts."""
    for side in (16,) + SIDES if name == "vit_b_16" else SIDES:
        try:
            models.check_input_size(name, (1, side, side))
            return side
        except ConfigError:
            continue
    raise AssertionError(f"{name} accepts none of {SIDES}")


@pytest.mark.slow
@pytest.mark.parametrize("name", models.TORCHVISION_MODELS)
def test_named_head_is_replaced_and_the_model_trains(name):
    side = smallest_side(name)
    torch.manual_seed(0)
    net = models.build_model(name, (1, side, side), K)
    head = net.net.get_submodule(models.HEADS[models._family(name)])
    assert isinstance(head, nn.Linear) and head.out_features == K
    # every other Linear kept its width (swin's last MLP layer is not the head)
    others = [m for m in net.modules() if isinstance(m, nn.Linear) and m is not head]
    assert all(m.out_features != K for m in others)
    net.train()
    x = torch.rand(2, 1, side, side) * 255
    logits = net(x)
    assert logits.shape == (2, K)
    nn.functional.cross_entropy(logits, torch.tensor([0, 2])).backward()
    assert head.weight.grad is not None and head.weight.grad.abs().sum() > 0
    first_conv = next(m for m in net.modules() if isinstance(m, nn.Conv2d))
    assert first_conv.in_channels == 1 and first_conv.weight.grad is not None


def _meta_model(name: str, shape: tuple[int, ...]) -> nn.Module | None:
    """The bare architecture (no size check) for inputs of `shape`, on the meta device, which
    allocates and computes nothing; None when it cannot be built for that shape."""
    try:
        with torch.device("meta"):
            return models._torchvision_model(name, shape, K, None)
    except NotImplementedError:          # regnet computes its widths with real tensors
        return models._torchvision_model(name, shape, K, None).to("meta")
    except (RuntimeError, ValueError, AssertionError):
        return None


def _runs(net: nn.Module | None, shape: tuple[int, ...]) -> bool:
    """Does a training-mode forward of a batch of two `shape` inputs give (2, K) logits?"""
    if net is None:
        return False
    net.train()
    try:
        return net(torch.empty((2,) + shape, device="meta")).shape == (2, K)
    except (RuntimeError, ValueError, AssertionError):
        return False


def _accepted(name: str, shape: tuple[int, ...]) -> bool:
    try:
        models.check_input_size(name, shape)
        return True
    except ConfigError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("name", models.TORCHVISION_MODELS)
def test_size_rule_agrees_with_the_architecture(name):
    """Accepted at 8, 28, 32, 224 px exactly where the architecture runs; channels do not
    change the rule (the stem is rebuilt for them), checked at the smallest accepted side."""
    per_side = models._family(name) == "vit"          # built for the data's side
    net = None if per_side else _meta_model(name, (1, 32, 32))
    for side in SIDES:
        shape = (1, side, side)
        assert _accepted(name, shape) == _accepted(name, (3, side, side))
        assert _accepted(name, shape) == _runs(_meta_model(name, shape) if per_side else net, shape), shape
    side = smallest_side(name)
    assert _runs(_meta_model(name, (3, side, side)), (3, side, side))
    need = models.MIN_SIDE.get(models._family(name))
    if need:                                  # the table's minimum is the exact boundary
        assert _runs(net, (1, need, need)) and not _runs(net, (1, need - 1, need - 1))


def test_size_errors_are_one_line_with_the_fix():
    with pytest.raises(ConfigError) as e:
        models.resolve_model_name("convnext_tiny", "image", (1, 8, 8))
    assert_fragments(str(e.value), "--model convnext_tiny needs images of at least 32x32 px: "
                     "pass --image-size 32 (or larger), or use --model cnn or resnet18")
    assert "32x32" in str(e.value) and "8x8" in str(e.value)
    with pytest.raises(ConfigError, match=r"--model densenet121 needs images of at least 29x29 px; these are 28x28"):
        models.resolve_model_name("densenet121", "image", (3, 28, 28))
    with pytest.raises(ConfigError) as e:
        models.resolve_model_name("vit_b_16", "image", (1, 28, 28))
    assert_fragments(str(e.value), "--model vit_b_16 needs square images: pass --image-size 32 "
                     "(or 224), or use another --model")
    assert "multiple of 16" in str(e.value) and "28x28" in str(e.value)
    with pytest.raises(ConfigError, match=r"--model vit_b_16 with --pretrained needs 224x224 images"):
        models.resolve_model_name("vit_b_16", "image", (3, 32, 32), pretrained="w.pth")
    assert models.resolve_model_name("swin_t", "image", (1, 8, 8)) == "swin_t"
    assert models.resolve_model_name("vit_b_16", "image", (3, 224, 224)) == "vit_b_16"


def _cli_train(tmp_path, side: int, rgb: bool, *args):
    from click.testing import CliRunner

    from cleanlab_lite.cli import main
    from tests.conftest import write_pngs

    write_pngs(tmp_path / "img", n_per_class=6, size=side, rgb=rgb).to_csv(tmp_path / "m.csv", index=False)
    argv = ["train", tmp_path / "m.csv", "--out", tmp_path / "run", "--folds", "2", "--epochs", "1",
            "--batch-size", "4", "--quiet", *args]
    return CliRunner().invoke(main, [str(a) for a in argv])


@pytest.mark.parametrize("name, side, rgb, line", [
    ("convnext_tiny", 8, False, "Error: --model convnext_tiny needs images of at least 32x32 px; "
                                "these are 8x8: pass --image-size 32 (or larger), or use --model cnn "
                                "or resnet18, which take any size"),
    ("densenet121", 28, True, "Error: --model densenet121 needs images of at least 29x29 px; these are "
                              "28x28: pass --image-size 29 (or larger), or use --model cnn or "
                              "resnet18, which take any size"),
    ("vit_b_16", 28, False, "Error: --model vit_b_16 needs square images whose side is a multiple of "
                            "16 px; these are 28x28: pass --image-size 32 (or 224), or use another --model"),
])
def test_cli_too_small_images_exit_2_before_anything_is_written(tmp_path, name, side, rgb, line):
    r = _cli_train(tmp_path, side, rgb, "--model", name)
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert [ln for ln in r.output.splitlines() if ln.strip()] == [line]
    assert not (tmp_path / "run" / "config.yaml").exists() and not (tmp_path / "run" / "folds").exists()


@pytest.mark.slow
@pytest.mark.parametrize("name, side, rgb, extra", [
    ("swin_t", 8, False, ()),                                   # crashed in the first forward before
    ("convnext_tiny", 8, True, ("--image-size", "32")),         # the fix the error names
])
def test_cli_trains_models_that_used_to_crash(tmp_path, name, side, rgb, extra):
    import numpy as np

    r = _cli_train(tmp_path, side, rgb, "--model", name, *extra)
    assert r.exit_code == 0, r.output
    p = np.load(tmp_path / "run" / "pred_probs.npy")
    assert p.shape == (12, 2) and np.allclose(p.sum(axis=1), 1, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name, dim", [("resnet18", 512), ("swin_t", 768)])
def test_strip_head_leaves_the_features(name, dim):
    # the classifier is the HEADS entry, not the last nn.Linear (for swin that is inside the
    # last block's MLP, whose removal broke --backbone swin_t)
    m = models.build_model(name, (1, 32, 32), 3)
    models.strip_head(m, name)
    with torch.no_grad():
        assert tuple(m.eval()(torch.rand(2, 1, 32, 32)).shape) == (2, dim)
