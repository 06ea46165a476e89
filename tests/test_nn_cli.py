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


def refused(capsys, *arguments):
    """The one error line of ``autodiff train`` refusing ``arguments`` before any training."""
    with pytest.raises(SystemExit) as raised:
        main(["train", *arguments])
    out, err = capsys.readouterr()
    assert raised.value.code == 2 and out == "", out  # nothing trained, nothing printed
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


@pytest.mark.parametrize("arguments, message", [
    (lambda tmp: ["--save", str(tmp / "no" / "model.npz")], "--save: .*does not exist"),
    (lambda tmp: ["--save", str(tmp)], "--save: .* is a directory; give a file name"),
    (lambda tmp: ["--plot", str(tmp)], "--plot: .* is a directory"),
    (lambda tmp: ["--save", str(tmp / "model.npz"), "--plot", str(tmp / "model.npz")],
     "--save and --plot both name"),
], ids=["missing-directory", "save-to-directory", "plot-to-directory", "same-file"])
def test_bad_output_paths_are_refused_before_training(capsys, tmp_path, arguments, message):
    """Issue 10: --save <directory> trained fully and then lost the weights."""
    line = refused(capsys, *arguments(tmp_path))
    assert re.search(rf"^autodiff train: error: arguments? {message}", line), line


def test_an_unwritable_directory_is_refused_before_training(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(train_cli.os, "access", lambda path, mode: False)
    line = refused(capsys, "--save", str(tmp_path / "model.npz"))
    assert line.endswith("model.npz is not writable"), line


@pytest.mark.parametrize("name, message", [("curve.txt", "cannot write .txt; use one of .*png"),
                                           ("curves", "cannot write a file without a suffix")])
def test_an_unsupported_plot_format_is_refused_before_training(capsys, tmp_path, name, message):
    """Issue 10: --plot curve.txt failed only after training."""
    pytest.importorskip("matplotlib")
    line = refused(capsys, "--plot", str(tmp_path / name))
    assert re.search(rf"argument --plot: .*{message}", line), line


@pytest.mark.parametrize("arguments, message", [
    (["--optimizer", "bfgs"], "--optimizer: invalid choice"),
    (["--epochs", "0"], "--epochs: Invalid epochs: 0"),
    (["--lr", "-1"], "--lr: Invalid lr: -1.0"),
    (["--lr", "nan"], "--lr: Invalid lr: nan"),
    (["--hidden", "x"], "--hidden: Invalid hidden: 'x'"),
    (["--seed", "-1"], "--seed: Invalid seed: -1"),
])
def test_bad_options_are_usage_errors(capsys, arguments, message):
    line = refused(capsys, *arguments)
    assert line.startswith(f"autodiff train: error: argument {message}"), line


def test_train_is_listed_in_the_help(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "train" in capsys.readouterr().out
