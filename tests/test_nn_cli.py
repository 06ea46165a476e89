"""``autodiff train``: trains the digits MLP, reports accuracies, saves weights and curves."""

import re
import sys

import numpy as np
import pytest

import autodiff as ad
from autodiff.cli import main
from autodiff.nn import train_cli


def run(capsys, *arguments):
    status = main(["train", *arguments])
    out, err = capsys.readouterr()
    return status, out, err


def reported(out, what):
    return float(re.search(rf"{what} accuracy:\s+([\d.]+) %", out).group(1))


def test_the_default_run_trains_and_reports_both_accuracies(capsys):
    status, out, err = run(capsys, "--no-progress")
    assert status == 0
    assert "64-128-10 MLP" in out and "adam (lr=0.003), batch 32, 30 epochs, seed 0" in out
    assert "1258 training / 180 validation / 359 test images" in out
    assert reported(out, "validation") > 95 and reported(out, "test") > 95


def test_the_progress_bar_goes_to_stderr(capsys):
    status, out, err = run(capsys, "--epochs", "2")
    assert status == 0 and "2/2" in err and "epoch" in err


@pytest.mark.parametrize("optimizer", sorted(train_cli.OPTIMIZERS))
def test_every_optimizer_trains(capsys, optimizer):
    status, out, _ = run(capsys, "--optimizer", optimizer, "--epochs", "3", "--no-progress",
                         "--hidden", "32")
    assert status == 0 and f"{optimizer} (lr=" in out
    assert reported(out, "test") > 80


def test_options_reach_the_training(capsys):
    status, out, _ = run(capsys, "--lr", "0.01", "--batch-size", "64", "--epochs", "4", "--seed",
                         "3", "--hidden", "16", "8", "--patience", "2", "--no-progress")
    assert status == 0
    assert "64-16-8-10 MLP" in out and "(lr=0.01), batch 64, 4 epochs, seed 3" in out
    assert "restored" in out


def test_save_and_plot(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    weights, curves = tmp_path / "model.npz", tmp_path / "curves.png"
    status, out, _ = run(capsys, "--epochs", "2", "--no-progress", "--save", str(weights),
                         "--plot", str(curves))
    assert status == 0
    assert curves.read_bytes().startswith(b"\x89PNG")
    model = train_cli._build_model([128], np.random.default_rng(0))
    ad.nn.load(model, weights)  # the saved file fits the architecture


def test_plot_without_matplotlib_is_a_clear_message(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    status, out, err = run(capsys, "--plot", str(tmp_path / "c.png"))
    assert status == 1 and out == ""
    assert "needs matplotlib" in err and "pip install" in err


def test_a_missing_directory_is_reported_before_training(capsys, tmp_path):
    status, out, err = run(capsys, "--save", str(tmp_path / "no" / "model.npz"))
    assert status == 2 and out == "" and "does not exist" in err


@pytest.mark.parametrize("arguments", [["--optimizer", "lbfgs"], ["--epochs", "0"],
                                       ["--lr", "-1"], ["--hidden", "x"]])
def test_bad_options_are_usage_errors(capsys, arguments):
    with pytest.raises(SystemExit) as raised:
        main(["train", *arguments])
    assert raised.value.code == 2
    assert "usage" in capsys.readouterr().err


def test_train_is_listed_in_the_help(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "train" in capsys.readouterr().out
