"""The digits CNN (issue 11): accuracy on a stratified 20 % hold-out, and ``--model cnn``."""

import time

import numpy as np

import autodiff as ad
from autodiff.cli import main


def train_digits_cnn(seed, epochs=30):
    """Test accuracy and seconds of the digits CNN trained with Adam on 80 % of the images
    (stratified split)."""
    X, y = ad.nn.load_digits()
    (X_train, y_train), _, (X_test, y_test) = ad.nn.train_val_test_split(
        X, y, val_fraction=0.0, test_fraction=0.2, rng=seed)
    scaler = ad.nn.Standardizer().fit(X_train)
    model = ad.nn.models.digits_cnn(rng=seed)
    optimizer = ad.optim.Adam(model.parameters(), lr=3e-3)
    loader = ad.nn.DataLoader(scaler.transform(X_train), y_train, batch_size=32, rng=seed)
    start = time.perf_counter()
    ad.nn.fit(model, ad.nn.functional.cross_entropy, optimizer, loader, epochs=epochs,
              progress=False)
    seconds = time.perf_counter() - start
    return ad.nn.evaluate(model, scaler.transform(X_test), y_test)[1], seconds


def test_digits_cnn_reaches_98_5_percent():
    # one seed here; over seeds 0-4: 98.89, 99.16, 98.61, 98.89, 98.61 % (mean 98.83 %), in
    # 6.4-10.8 s each at one BLAS thread (2026-12-05).  Time is not asserted: it depends on the
    # machine's load and, through OpenBLAS threads spinning on a busy machine, even CPU time
    # does (seed 0 at the default two threads and load 3-5: 54 s of CPU, 80 s of wall time).
    accuracy, _ = train_digits_cnn(seed=0)
    assert accuracy >= 0.985


def test_train_command_with_the_cnn(capsys):
    status = main(["train", "--model", "cnn", "--epochs", "2", "--no-progress"])
    out = capsys.readouterr().out
    assert status == 0 and "CNN" in out
    assert float(out.split("test accuracy:")[1].split("%")[0]) > 80


def test_digits_cnn_takes_images_or_rows():
    model = ad.nn.models.digits_cnn(rng=0).eval()
    rows = np.random.default_rng(0).normal(size=(3, 64))
    np.testing.assert_allclose(model(rows).value, model(rows.reshape(3, 1, 8, 8)).value)
