"""Training helpers: ``fit`` with a progress bar, a history and early stopping; ``evaluate``.

:func:`fit` runs the usual loop -- for each mini-batch: clear the gradients, forward, loss,
``loss.backward()``, ``optimizer.step()`` -- and after each epoch evaluates the validation set.
With ``early_stopping_patience=k`` it stops once the validation loss has not improved for ``k``
epochs and restores the weights of the best epoch (early stopping: Goodfellow et al., *Deep
Learning*, 2016, sec. 7.8).

With a first-order optimizer (``SGD``, ``Adam``, ...) the forward pass and the gradient of each
batch are *compiled* by default (:func:`autodiff.jit`): the step
``(X, y, theta) -> (loss, outputs, d loss / d theta)`` runs the model through
:func:`~autodiff.nn.functional_call` with the parameter values ``theta`` as inputs, is recorded
once per batch shape, and replays as NumPy code; the optimizer's update then reads the
gradients from ``.grad`` as after ``loss.backward()``.  The results are the eager loop's (bit
for bit where the same operations run).  A compiled step takes the parameters as inputs, but
not state that changes with every plain call, so those models stay on the eager loop, after one
``RuntimeWarning`` naming the layer (:mod:`autodiff.jit.fallback`): dropout in training mode
(its mask is drawn anew from its generator per call), batch normalisation tracking running
statistics in training mode (updated once per call), and any layer whose random generator a
recording saw drawn.  A loss that cannot be recorded falls back the same way; ``jit=False``
keeps the eager loop.  ``HessianFree`` and ``LBFGS`` re-run a closure and stay eager.

>>> import numpy as np, autodiff as ad
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(200, 2)); y = (X[:, 0] + X[:, 1] > 0).astype(int)
>>> model = ad.nn.Sequential(ad.nn.Linear(2, 8, rng=0), ad.nn.ReLU(), ad.nn.Linear(8, 2, rng=1))
>>> optimizer = ad.optim.Adam(model.parameters(), lr=0.05)
>>> loader = ad.nn.DataLoader(X, y, batch_size=32, rng=0)
>>> history = ad.nn.fit(model, ad.nn.functional.cross_entropy, optimizer, loader,
...                     val_data=(X, y), epochs=20, progress=False)
>>> history.val_accuracy[-1] > 0.95
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from ..jit.fallback import CompiledOrEager
from ..levels import no_grad
from ..rules.primitive import Traced, dtype_of, on_data, primal_value, shape_of
from ..transforms import value_and_grad
from ..validation import positive_int
from . import functional as F
from .dropout import Dropout
from .module import Module, functional_call
from .normalization import BatchNorm1d, BatchNorm2d

__all__ = ["History", "fit", "evaluate", "accuracy"]


@dataclass
class History:
    """Per-epoch records of :func:`fit` (lists of floats, one entry per epoch run).

    ``train_loss`` / ``train_accuracy`` average the mini-batches of the epoch (weighted by batch
    size; accuracy is measured on the fly, while the weights change); ``val_loss`` /
    ``val_accuracy`` are measured after the epoch.  Accuracies are ``nan`` when the targets are
    not integer class labels.  ``best_epoch`` is the index (0-based) of the lowest validation
    loss; ``stopped_early`` says whether early stopping ended training.
    """

    train_loss: list = field(default_factory=list)
    train_accuracy: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_accuracy: list = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False

    @property
    def epochs(self) -> int:
        return len(self.train_loss)


def _is_class_labels(targets) -> bool:
    return np.asarray(targets).dtype.kind in "iu"  # integers, not bools (kind "b")


def accuracy(logits, labels) -> float:
    """Fraction of samples whose largest logit (last axis) is at their 0-based label."""
    scores = np.asarray(primal_value(logits))
    labels = np.asarray(labels)
    if scores.ndim == 0 or scores.shape[:-1] != labels.shape:
        raise ValueError(
            f"accuracy needs logits (N, C) and labels (N,); got shapes {scores.shape} and "
            f"{labels.shape}"
        )
    if not _is_class_labels(labels):
        raise TypeError(f"labels must be integer class indices, got {labels.dtype}")
    if labels.size == 0:
        raise ValueError("accuracy of an empty set of samples is undefined")
    return float(np.mean(np.argmax(scores, axis=-1) == labels))


def _correct(outputs, labels) -> int:
    """How many rows of ``outputs`` have their largest entry at their label (the training
    accuracy's count; ``ndarray.argmax`` directly, as every batch pays for it)."""
    scores = outputs if type(outputs) is np.ndarray else np.asarray(primal_value(outputs))
    return int(np.count_nonzero(scores.argmax(-1) == labels))


def _check_scalar(shape, what: str) -> None:
    if len(shape) != 0:
        raise ValueError(f"{what} must be a scalar (use reduction='mean' or 'sum'), got shape "
                         f"{tuple(shape)}")


def _scalar(loss, what: str) -> float:
    value = primal_value(loss)
    if type(value) is float or type(value) is np.float64:  # a compiled step's loss
        return float(value)
    _check_scalar(np.shape(value), what)
    return float(value)


def evaluate(model, X, y, loss_fn=F.cross_entropy, batch_size=None):
    """``(loss, accuracy)`` of ``model`` on ``(X, y)``, in eval mode and without recording.

    The loss is the sample-weighted mean of ``loss_fn`` over batches of ``batch_size`` (all at
    once by default); accuracy is ``nan`` when ``y`` is not integer class labels.  The model's
    training/eval mode is restored afterwards.
    """
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y) or len(y) == 0:
        raise ValueError(f"X and y need the same, non-zero number of samples: {len(X)}, {len(y)}")
    size = len(y) if batch_size is None else int(batch_size)
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    try:
        with no_grad():
            for start in range(0, len(y), size):
                outputs = model(X[start:start + size])
                targets = y[start:start + size]
                total_loss += _scalar(loss_fn(outputs, targets), "the loss") * len(targets)
                if _is_class_labels(y):
                    correct += int(np.sum(np.argmax(primal_value(outputs), -1) == targets))
    finally:
        model.train(was_training)
    score = correct / len(y) if _is_class_labels(y) else math.nan
    return total_loss / len(y), score


def _check_fit_arguments(model, optimizer, epochs, patience, val_data):
    if not isinstance(model, Module):
        raise TypeError(f"fit needs an ad.nn.Module, got {type(model).__name__}")
    if not (hasattr(optimizer, "step") and hasattr(optimizer, "zero_grad")):
        raise TypeError(f"optimizer needs step() and zero_grad(), got {type(optimizer).__name__}")
    positive_int(epochs, "epochs")
    if patience is not None:
        positive_int(patience, "early_stopping_patience")
        if val_data is None:
            raise ValueError("early stopping watches the validation loss: pass val_data=(X, y)")
    if val_data is not None and (not isinstance(val_data, (tuple, list)) or len(val_data) != 2):
        raise TypeError("val_data must be a pair (X_val, y_val)")


def _checked_loss(loss):
    if not isinstance(loss, Traced):
        raise TypeError(
            "the loss does not depend on the model's parameters (it is a plain "
            "number); check that loss_fn uses the model's outputs"
        )
    _check_scalar(shape_of(loss), "the loss")
    return loss


#: fit's compiled step runs eagerly after this many retraces outnumbering its replays.
RETRACE_LIMIT = 4


def _uncompilable_state(model) -> str | None:
    """Why a compiled step cannot take ``model``'s state (a layer that changes it on every plain
    call in training mode), or ``None``."""
    for name, module in model.named_modules():
        where = f"layer {name!r} ({type(module).__name__})" if name else type(module).__name__
        if not module.training:
            continue
        if isinstance(module, Dropout) and module.p > 0:
            return (f"{where} draws a new dropout mask from its random generator on every "
                    "call, which a replay would repeat")
        if isinstance(module, (BatchNorm1d, BatchNorm2d)) and module.track_running_stats:
            return (f"{where} updates its running statistics on every training call, which a "
                    "replay would skip")
    return None


def _generators(model) -> list:
    """The random generators the model's modules hold (a recording must not draw from them)."""
    return [(name, attribute, value) for name, module in model.named_modules()
            for attribute, value in vars(module).items()
            if isinstance(value, np.random.Generator)]


class _TrainingStep:
    """One batch's loss, outputs and gradients: compiled, or eagerly on the tape.

    ``step(X, y)`` sets every parameter's ``.grad`` (as ``loss.backward()`` does) and returns
    ``(loss, outputs, correct)``.  Compiled, the recorded function is
    ``(X, y, *theta) -> ((loss, (outputs, correct)), grads)``: the parameter values are its
    inputs, so a replay after an optimizer step computes with the new ones.  ``correct`` is the
    count of :func:`_correct` for integer labels, a step of the replay (on the logits it has
    just made), else ``None``: fit counts it itself, as on the eager path.
    """

    def __init__(self, model, loss_fn, jit: bool):
        self.model, self.loss_fn = model, loss_fn
        named = list(model.named_parameters())
        self.names = [name for name, _ in named]
        self.parameters = [parameter for _, parameter in named]
        self.compiled = None
        if jit:
            count = len(self.names)
            argnums = tuple(range(2, 2 + count))

            def loss_and_outputs(X, y, *values):
                outputs = functional_call(model, dict(zip(self.names, values)), X)
                loss = _checked_loss(loss_fn(outputs, y))
                correct = on_data(_correct, outputs, y) if dtype_of(y).kind in "iu" else None
                return loss, (outputs, correct)

            gradient = value_and_grad(loss_and_outputs, argnums, has_aux=True)
            self.compiled = CompiledOrEager(gradient, "fit's training step", self._eager)
            self.generators = _generators(model)

    def _eager(self, X, y, *values):
        outputs = self.model(X)
        loss = _checked_loss(self.loss_fn(outputs, y))
        loss.backward()
        return (loss, (outputs, None)), None

    def check_state(self) -> None:
        """Refuse compiling (one warning) when the model holds state a replay cannot pass."""
        if self.compiled is not None and self.compiled.reason is None:
            reason = _uncompilable_state(self.model)
            if reason is not None:
                self.compiled.refuse(reason, stacklevel=4)

    def __call__(self, X, y):
        if self.compiled is None:
            (loss, (outputs, correct)), _ = self._eager(X, y)
            return loss, outputs, correct
        parameters, stats = self.parameters, self.compiled.compiled.stats
        records = stats["records"]
        states = [generator.bit_generator.state for _, _, generator in self.generators]
        (loss, (outputs, correct)), grads = self.compiled(X, y, *[p.value for p in parameters])
        if grads is not None:
            for parameter, grad in zip(parameters, grads):
                parameter.grad = grad
        if stats["records"] != records:  # this call recorded: did it draw?
            retraces, replays = stats["retraces"], stats["replays"]
            if retraces >= RETRACE_LIMIT and retraces > replays:
                self.compiled.refuse(
                    f"the step recorded again on {retraces} batches and replayed {replays} "
                    "times: a guard on the data fails on most batches (the loss reads the "
                    "labels' values, e.g. class weights or label smoothing indexing with them), "
                    "so compiling gains nothing", stacklevel=4)
            for (name, attribute, generator), state in zip(self.generators, states):
                if generator.bit_generator.state != state:
                    self.compiled.refuse(
                        f"module {name or type(self.model).__name__!r} draws from its random "
                        f"generator ({attribute!r}) while it runs, which a replay would repeat",
                        stacklevel=4)
        return loss, outputs, correct


def _optimizer_step(optimizer, loss, model, loss_fn, X_batch, y_batch):
    """One update on the batch by a closure-driven optimizer: ``HessianFree`` (outputs and loss
    function) or ``LBFGS`` (torch's convention: clear, forward, backward, return the loss)
    re-evaluates the batch (first-order optimizers step in :func:`fit` itself)."""
    from ..optim import HessianFree

    if isinstance(optimizer, HessianFree):
        optimizer.step(lambda: (model(X_batch), lambda outputs: loss_fn(outputs, y_batch)))
    else:  # LBFGS
        def closure():
            optimizer.zero_grad()
            batch_loss = loss_fn(model(X_batch), y_batch)
            batch_loss.backward()
            return batch_loss

        optimizer.step(closure)


def fit(model, loss_fn, optimizer, train_loader, val_data=None, epochs=10,
        early_stopping_patience=None, progress=True, scheduler=None, jit=True) -> History:
    """Train ``model`` on ``train_loader``'s mini-batches for up to ``epochs`` epochs.

    Parameters
    ----------
    model:
        An :class:`~autodiff.nn.Module` mapping a batch of inputs to outputs (logits).
    loss_fn:
        ``loss_fn(outputs, targets)`` -> scalar, e.g. ``ad.nn.functional.cross_entropy``.
    optimizer:
        An optimizer over ``model.parameters()`` (``ad.optim.Adam`` etc.).
    train_loader:
        An iterable of ``(X_batch, y_batch)``, re-iterated each epoch (``ad.nn.DataLoader``).
    val_data:
        ``(X_val, y_val)``, evaluated after every epoch (no recording, eval mode).
    early_stopping_patience:
        Stop when the validation loss has not improved for this many epochs, and restore the
        weights of the best epoch.
    progress:
        Show a tqdm progress bar over the epochs (with the latest losses).
    scheduler:
        A learning-rate schedule whose ``step()`` is called after every epoch.
    jit:
        Compile each batch's forward pass and gradient (see the module docstring); ``False``
        runs the eager loop (``model(X)``, ``loss.backward()``).

    Returns
    -------
    History
        Per-epoch training and validation loss and accuracy.

    Raises
    ------
    FloatingPointError
        If the training loss becomes ``nan`` or infinite (lower the learning rate).
    """
    _check_fit_arguments(model, optimizer, epochs, early_stopping_patience, val_data)
    from ..optim import LBFGS, HessianFree

    closure_driven = isinstance(optimizer, (LBFGS, HessianFree))
    step = _TrainingStep(model, loss_fn, bool(jit) and not closure_driven)
    history = History()
    best_loss, best_state, waited = math.inf, None, 0
    bar = tqdm(range(int(epochs)), desc="training", unit="epoch", disable=not progress,
               leave=True, dynamic_ncols=True)
    try:
        for epoch in bar:
            model.train()
            step.check_state()
            seen, loss_sum, correct, classified = 0, 0.0, 0, 0
            for X_batch, y_batch in train_loader:
                optimizer.zero_grad()
                if closure_driven:
                    outputs = model(X_batch)
                    loss, correct_count = _checked_loss(loss_fn(outputs, y_batch)), None
                else:
                    loss, outputs, correct_count = step(X_batch, y_batch)
                value = _scalar(loss, "the loss")
                if not math.isfinite(value):
                    raise FloatingPointError(
                        f"the training loss became {value} in epoch {epoch + 1}; lower the "
                        "learning rate or clip the gradients"
                    )
                if closure_driven:
                    _optimizer_step(optimizer, loss, model, loss_fn, X_batch, y_batch)
                else:
                    optimizer.step()
                count = len(y_batch)
                seen += count
                loss_sum += value * count
                if correct_count is not None:  # counted by the compiled step (integer labels)
                    classified += count
                    correct += correct_count
                elif _is_class_labels(y_batch):
                    classified += count
                    correct += _correct(outputs, y_batch)
            if seen == 0:
                raise ValueError("train_loader produced no batches")
            history.train_loss.append(loss_sum / seen)
            history.train_accuracy.append(correct / classified if classified else math.nan)
            postfix = {"loss": f"{history.train_loss[-1]:.4f}"}
            if val_data is not None:
                val_loss, val_accuracy = evaluate(model, val_data[0], val_data[1], loss_fn)
                history.val_loss.append(val_loss)
                history.val_accuracy.append(val_accuracy)
                postfix.update(val_loss=f"{val_loss:.4f}", val_acc=f"{val_accuracy:.4f}")
                if val_loss < best_loss:
                    best_loss, waited = val_loss, 0
                    history.best_epoch = epoch
                    if early_stopping_patience is not None:
                        best_state = model.state_dict()
                else:
                    waited += 1
            bar.set_postfix(postfix, refresh=False)
            if scheduler is not None:
                scheduler.step()
            if early_stopping_patience is not None and waited >= early_stopping_patience:
                history.stopped_early = True
                break
    finally:
        bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    return history
