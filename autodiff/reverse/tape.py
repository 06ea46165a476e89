"""The tape: recorded nodes and the one backward sweep.

Every operation on a :class:`~autodiff.reverse.var.Var` appends a :class:`Node` (primitive,
saved inputs, output, parameters, parent ``Var`` s) and gets the next sequence number, so sorting
by sequence number is the Wengert list's order, which is a topological order.  The backward
sweep (dynamic programming over the graph, not a sum over paths: Aggarwal, *Neural Networks and
Deep Learning*, Springer 2018, sec. 3.2.2; Baydin et al., JMLR 2018, sec. 3.2) walks the nodes
reachable from the output in decreasing sequence number with a heap, *iteratively*: a chain of a
million nodes needs no recursion.  Each node's VJP rule maps its output's summed cotangent to its
inputs' cotangents.

After a sweep without ``retain_graph`` the visited nodes drop what they saved; a second sweep
through them raises instead of returning garbage.  Arrays the tape produced are read-only while it
holds them, and an array someone else can still write (an input, a captured constant, a view of
either) is saved as the tape's own read-only copy (:func:`kept_for_backward`), so changing it in
place between the forward pass and the sweep cannot change the gradient (``grad`` and ``jacrev``,
whose sweep runs before they return, hold their inputs read-only instead of copying them).
``ad.debug()`` additionally checksums every saved input and names any that was changed in place
before the sweep through an alias no flag shows (a writeable view made before its base was marked read-only, or
memory shared with a non-NumPy buffer).
"""

from __future__ import annotations

import contextvars
import gc
import heapq
import itertools
import os
import sys
import threading
import weakref
import zlib

import numpy as np

from ..forward.dual import Dual
from ..rules import elementwise as ew
from ..rules.indexing import SparseCotangent, accumulate_sparse, add_into_slice, getitem
from ..rules.elementwise import chain_product
from ..rules.primitive import Traced, shape_of

__all__ = [
    "Node",
    "backward_pass",
    "debug",
    "debug_enabled",
    "kept_for_backward",
    "inputs_held_read_only",
    "next_sequence_number",
    "version_before",
    "cyclic_gc_spaced",
]

next_sequence_number = itertools.count(1).__next__

_debug = contextvars.ContextVar(
    "autodiff_debug", default=os.environ.get("AUTODIFF_DEBUG", "") not in ("", "0")
)


def debug_enabled() -> bool:
    return _debug.get()


class debug:
    """Context manager (or ``AUTODIFF_DEBUG=1``): checksum saved arrays, verify at backward.

    Catches writes through aliases the tape cannot see (``X`` changed in place between the
    forward pass and ``backward``) and names the primitive and argument involved.
    """

    def __init__(self, enabled: bool = True):
        self.enabled = enabled

    def __enter__(self):
        self._token = _debug.set(self.enabled)
        return self

    def __exit__(self, *exc):
        _debug.reset(self._token)
        return False


# A young-generation threshold 14x Python's default of 700.  Measured on the 1e5-step chain
# (median of 5): 1.06 s with the collector off, 1.69 s at the default thresholds (ten full
# collections of the growing tape, 0.59 s), 1.16 s at 10000 (one full collection).
RECORDING_GC_THRESHOLD = 10_000

_gc_lock = threading.Lock()
_gc_holders = 0
_gc_paused = False  # whether the first holder switched the collector off (no other worker)
_gc_pause = (None, 0)  # the pausing thread's identity and the number of threads then
_gc_saved_thresholds = None


class cyclic_gc_spaced:
    """Context manager: keep the cyclic garbage collector off the tape while it is recorded or
    swept, without stopping other threads' collection.

    Tape nodes form no reference cycles (a node points to its inputs, never to its output), so
    reference counting frees them; the cyclic collector would only rescan the growing tape again
    and again (four tracked objects per operation: every young and middle collection visits
    each once, and full collections all of them: 0.25 s of a 1.4 s chain of 1e5 steps).

    * While the recording thread is the only Python thread besides daemon threads (background
      services such as tqdm's monitor or a Jupyter kernel's heartbeat), the collector is
      paused: no other worker's cyclic garbage can pile up, and the recording's own is
      collected at the first collection after it (a worker thread the recorded function
      starts runs with the collector paused until it enters a transform, or until the
      recording's next transform entry sees it; ``grad`` and ``jacrev`` sweep within their
      recording's pause, entered once).
    * With other (non-daemon) threads alive, at entry or when one enters a transform
      meanwhile, the collector stays on and its young-generation threshold is raised instead
      (:data:`RECORDING_GC_THRESHOLD`): passes are triggered by the number of container
      allocations, so they become rarer but keep collecting every thread's garbage.

    Switching the collector off for as long as any thread was inside a transform let unrelated
    cyclic garbage grow without bound while threads looped over ``grad``.  Nested and concurrent
    holders are counted; the last one restores the collector and its thresholds, unless someone
    else changed them meanwhile.  A collector the user switched off, or a threshold of 0 or one
    above ours, is left as it is.
    """

    __slots__ = ()

    def __enter__(self):
        global _gc_holders, _gc_paused, _gc_pause
        with _gc_lock:
            if _gc_holders == 0:
                count = threading.active_count()
                if gc.isenabled() and _alone(count):
                    gc.disable()
                    _gc_paused = True
                    _gc_pause = (threading.get_ident(), count)
                else:
                    _space_out_collections()
            elif _gc_paused and _another_worker():
                gc.enable()  # another thread works now: collect, only less often
                _gc_paused = False
                _space_out_collections()
            _gc_holders += 1
        return self

    def __exit__(self, *exc):
        global _gc_holders, _gc_paused, _gc_saved_thresholds
        with _gc_lock:
            _gc_holders -= 1
            if _gc_holders == 0:
                if _gc_paused:
                    gc.enable()
                    _gc_paused = False
                if _gc_saved_thresholds is not None:
                    if gc.get_threshold()[0] == RECORDING_GC_THRESHOLD:
                        gc.set_threshold(*_gc_saved_thresholds)
                    _gc_saved_thresholds = None
        return False


def _alone(count: int) -> bool:
    """Whether every other Python thread is a daemon (the calling one need not be), given the
    number of threads alive."""
    if count == 1:
        return True
    current = threading.current_thread()
    return all(thread is current or thread.daemon for thread in threading.enumerate())


def _another_worker() -> bool:
    """While paused, on a nested entry: whether another thread entered a transform, or a
    non-daemon thread started since the pause (the thread list is read only if the count of
    threads changed: nested entries are on every transform's path)."""
    thread, count = _gc_pause
    if threading.get_ident() != thread:
        return True
    now = threading.active_count()
    return now != count and not _alone(now)


def _space_out_collections():
    """Raise the young-generation threshold to :data:`RECORDING_GC_THRESHOLD` (lock held)."""
    global _gc_saved_thresholds
    thresholds = gc.get_threshold()
    if 0 < thresholds[0] < RECORDING_GC_THRESHOLD:
        _gc_saved_thresholds = thresholds
        gc.set_threshold(RECORDING_GC_THRESHOLD, *thresholds[1:])


def kept_for_backward(value):
    """``value`` as a node saves it: a read-only copy of an array that someone can still write.

    A VJP rule reads its saved inputs when the sweep runs, after the user's code went on: an
    input or captured constant changed in place in between (``x[0] = 5`` before ``pullback(1)``)
    would silently change the gradient.  An array is safe to share only if neither it nor the
    array owning its memory is writeable (a read-only view of a writeable array still changes
    with it, so both flags are checked); any other array is copied once, and the node's primal
    computation runs on that copy, so views it makes are read-only too.  Copying, not a
    checksum: a checksum reads the whole array too, and could only raise where the copy gives
    the gradient of the values actually used.  Transform inputs are copied once, when their
    ``Var`` is made, unless the transform holds them read-only until its sweep is done
    (:func:`inputs_held_read_only`).
    """
    if type(value) is np.ndarray:
        base = value.base
        if value.flags.writeable or (type(base) is np.ndarray and base.flags.writeable):
            value = value.copy(order="K")  # its layout: a sum reads it in the same order
            value.flags.writeable = False
    return value


_held_lock = threading.Lock()
_held: dict[int, list] = {}  # id -> [array, number of holders]


class inputs_held_read_only:
    """Within the block, the writeable arrays among ``leaves`` are read-only (a view together
    with the array owning its memory), so the tape shares them instead of copying them
    (:func:`kept_for_backward`).

    For transforms whose sweep runs before they return (``grad``, ``value_and_grad``,
    ``jacrev``): between their forward pass and their sweep only the user's function runs, and it
    sees its inputs as ``Var`` s, so the arrays need no copy; a write to one of them (or to the
    base of a view, as ``np.linspace`` and ``reshape`` return) from inside the function (through
    a closure) raises NumPy's read-only error instead of changing the gradient.  A view whose
    memory belongs to something other than an array is left alone (the tape copies it once).
    The flags are restored when the last holder leaves (holders in several threads are
    counted).  Measured (medians, one BLAS thread): the gradient of a 784-256-10 MLP loss on a
    batch of 64 cost 4.5 ms with both weight matrices copied (into fresh pages) per call,
    2.0 ms with them held (1.8 ms before any copying).
    """

    __slots__ = ("leaves", "owners", "views")

    def __init__(self, leaves):
        self.leaves = leaves

    def __enter__(self):
        # restored owners first: a view can be made writeable only over a writeable base
        self.owners, self.views = owners, views = [], []
        with _held_lock:
            for leaf in self.leaves:
                if type(leaf) is not np.ndarray:
                    continue
                base = leaf.base
                if base is None:
                    _hold(leaf, owners)
                elif type(base) is np.ndarray and base.base is None:
                    _hold(leaf, views)
                    _hold(base, owners)
        return self

    def __exit__(self, *exc):
        with _held_lock:
            for held in (self.owners, self.views):
                for array in held:
                    entry = _held[id(array)]
                    entry[1] -= 1
                    if entry[1] == 0:
                        del _held[id(array)]
                        array.flags.writeable = True
        return False



def _hold(array, held):
    """Make ``array`` read-only until its last holder leaves, if it is writeable or held."""
    entry = _held.get(id(array))
    if entry is not None and entry[0] is array:
        entry[1] += 1
    elif array.flags.writeable:
        _held[id(array)] = [array, 1]
        array.flags.writeable = False
    else:
        return
    held.append(array)

def _checksum(value):
    if isinstance(value, np.ndarray):
        return zlib.crc32(np.ascontiguousarray(value).view(np.uint8).reshape(-1))
    return None


_new_node = object.__new__


class Node:
    """One recorded operation: ``out = prim(*primals, **params)``."""

    __slots__ = ("prim", "primals", "out", "params", "parents", "released", "checksums",
                 "frozen")

    def __init__(self, prim, primals, out, params, parents, made=None):
        """``out`` is what the VJP rule reads of the output: the array, or only its shape
        (:func:`~autodiff.rules.primitive.shape_only`) when the rule does not read it; ``made``
        is then the array the primitive returned.  An output array that owns its memory is
        read-only while the node holds it, so a later node reading it need not copy it
        (:func:`kept_for_backward`); a weak reference lets :meth:`release` make it writeable
        again without keeping a shape-only node's output alive."""
        self.prim = prim
        self.primals = primals
        self.out = out
        self.params = params
        self.parents = parents
        self.released = False
        self.checksums = [_checksum(p) for p in primals] if _debug.get() else None
        made = out if made is None else made
        if type(made) is np.ndarray and made.flags.owndata:
            made.flags.writeable = False
            self.frozen = weakref.ref(made)
        else:
            self.frozen = None

    @classmethod
    def of_float(cls, prim, primals, out, params, parents):
        """A node whose output is a float and whose saved inputs hold no data anyone can
        write (floats, :func:`~autodiff.rules.primitive.shape_only` stand-ins): what
        ``__init__`` makes of them (nothing to freeze; debug checksums that are all ``None``,
        so nothing to verify), without its checks."""
        node = _new_node(cls)
        node.prim = prim
        node.primals = primals
        node.out = out
        node.params = params
        node.parents = parents
        node.released = False
        node.checksums = None
        node.frozen = None
        return node

    def verify(self):
        """Debug mode: fail loudly if a saved input was modified in place."""
        for i, (value, saved) in enumerate(zip(self.primals, self.checksums)):
            if saved is not None and _checksum(value) != saved:
                raise RuntimeError(
                    f"input {i} of {self.prim.name!r} (shape {np.shape(value)}, dtype "
                    f"{value.dtype}) was modified in place after it was recorded on the tape; "
                    "its gradient would be wrong. Copy the array before changing it, or finish "
                    "backward() first."
                )

    def release(self):
        """Drop what the node saved, and its parents: the forward values it kept alive (and
        the ``Var`` s upstream, once their own uses are released) can be freed."""
        made = self.frozen() if self.frozen is not None else None
        if made is not None:
            made.flags.writeable = True
        self.primals = self.out = self.params = None
        self.parents = ()
        self.released = True


def version_before(var, seq: int, cursors: dict):
    """The version of ``var`` that a node recorded before sequence number ``seq`` read.

    ``y[i] = v`` rebinds the Python object ``y`` to a new version (a new node and a larger
    sequence number, :mod:`autodiff.numpy_api.writing`); the version it replaced is kept as
    ``y._earlier``, so nodes recorded before the write still send their cotangents to it.
    ``cursors`` (one per sweep) remembers how far back each object's chain was walked: the
    sweep asks for ever smaller ``seq``, so a loop of n writes costs O(n) walking, not O(n^2).
    """
    version = cursors.get(id(var), var)
    while version._seq >= seq:
        version = version._earlier
    cursors[id(var)] = version
    return version


def _released_error(node) -> RuntimeError:
    return RuntimeError(
        f"backward through a released tape: the {node.prim.name!r} node was already used by an "
        "earlier backward() that freed its saved values. Pass retain_graph=True to the first "
        "backward() to differentiate the same graph twice, or recompute the forward pass."
    )


def _accumulate(store, owned, key, value):
    """store[key] += value, in place when the buffer is ours and nothing is traced.

    An index-and-values cotangent (``x[i]``'s, or :class:`_DualSparse`) is added into the
    buffer in place, or becomes the buffer: one dense array per base per sweep
    (:func:`~autodiff.rules.indexing.accumulate_sparse`).  So are the cotangents of a reverse
    sweep run on dual numbers (forward over reverse, ``hvp``) whose parts are plain arrays: a
    sum of two such duals made here is a buffer of ours, and further terms go into its parts in
    place (:func:`_add_duals`)."""
    if type(value) is SparseCotangent or type(value) is _DualSparse:
        made = accumulate_sparse(store, owned, key, value)
        if made is not None:
            return made
        value = value.dense()
    current = store.get(key)
    if current is None:
        store[key] = value
        return True
    if isinstance(current, Traced) or isinstance(value, Traced):
        if type(current) is Dual and type(value) is Dual:
            added = _add_duals(current, value, key in owned)
            if added is not None:
                if added is not current:
                    store[key] = added
                    owned.add(key)
                return False
        store[key] = ew.add(current, value)
        owned.discard(key)  # its parts may be another value's (a tangent passed through)
    elif (
        key in owned
        and type(current) is np.ndarray
        and np.shape(value) == current.shape
        and np.result_type(current, value) == current.dtype
    ):
        np.add(current, value, out=current)
    else:
        store[key] = current + value
        if type(store[key]) is np.ndarray:
            owned.add(key)
    return False



# ----------------------------------------------------------------------------------------------
# forward over reverse: cotangents that are dual numbers of plain arrays
# ----------------------------------------------------------------------------------------------


def _plain_parts(dual):
    """``(primal, tangent)`` of a dual number whose parts are plain floats / arrays (no level
    below it traces them), else ``None``: only then may the sweep do its arithmetic on the
    parts, exactly as :class:`~autodiff.forward.dual.JvpLevel` would (the add rule's primal
    ``a + b`` and tangent ``a' + b'``; a linear rule on each part)."""
    primal, tangent = dual._primal_, dual.tangent
    if type(primal) in _PLAIN and type(tangent) in _PLAIN and dual._level.active:
        return primal, tangent
    return None


_PLAIN = (np.ndarray, float)


def _add_duals(current, value, owned: bool):
    """``current + value`` for duals of one level with plain array parts of one shape and
    dtype: into ``current``'s parts in place when the sweep owns them (``owned``), else into
    new arrays (a dual the sweep then owns).  The same two ``np.add`` calls, and so the same
    bits, as the ``add`` primitive's rules on the dual level; ``None`` for any other pair
    (the primitive handles it)."""
    if current._level is not value._level or current._n_batch != value._n_batch:
        return None
    parts, more = _plain_parts(current), _plain_parts(value)
    if parts is None or more is None:
        return None
    (cp, ct), (vp, vt) = parts, more
    if not (
        type(cp) is np.ndarray and type(ct) is np.ndarray and type(vp) is np.ndarray
        and type(vt) is np.ndarray and cp.shape == vp.shape and ct.shape == vt.shape
        and cp.dtype == vp.dtype == ct.dtype == vt.dtype
    ):
        return None
    if owned:
        np.add(cp, vp, out=cp)
        np.add(ct, vt, out=ct)
        return current
    return Dual._make(np.add(cp, vp), np.add(ct, vt), current._level, current._n_batch)


class _DualSparse:
    """The cotangent of ``x[index]`` for a dual cotangent: one index-and-values cotangent
    (:class:`~autodiff.rules.indexing.SparseCotangent`) per part, ``parts = (primal's,
    tangent's)``, and the dual cotangent ``like`` they came from (its level and batch).  The
    sweep adds it into the parts of the dual buffer it owns for ``x`` in place, or makes that
    buffer from it (:func:`~autodiff.rules.indexing.accumulate_sparse`); the scatter of each
    part is what the ``scatter_add`` primitive's rules would compute on the dual level (the
    VJP of indexing is linear and reads no values, so the tangent of the scattered cotangent
    is the scattered tangent)."""

    __slots__ = ("parts", "like")

    def __init__(self, parts, like):
        self.parts = parts
        self.like = like

    def dense(self):
        primal, tangent = self.parts
        return Dual._make(primal.dense(), tangent.dense(), self.like._level, self.like._n_batch)

    def add_to(self, buffer) -> bool:
        """Add into ``buffer``'s parts in place if it is a dual of this level with array
        parts of the cotangent's shapes and value dtypes; whether it did."""
        like = self.like
        if type(buffer) is not Dual or buffer._level is not like._level or (
            buffer._n_batch != like._n_batch
        ):
            return False
        primal, tangent = self.parts
        into_primal, into_tangent = buffer._primal_, buffer.tangent
        if not (_holds(into_primal, primal) and _holds(into_tangent, tangent)):
            return False
        primal.add_into(into_primal)
        tangent.add_into(into_tangent)
        return True


def _holds(buffer, part) -> bool:
    """Whether ``buffer`` is an array of the sparse cotangent ``part``'s shape and of its
    values' dtype (a buffer :meth:`_DualSparse.add_to` adds into without a cast)."""
    values = part.values
    return type(buffer) is np.ndarray and buffer.shape == part.shape and buffer.dtype == (
        values.dtype if type(values) is np.ndarray else np.result_type(values))


def _dual_sparse_vjp(prim, g, node, wanted):
    """A sparse VJP (indexing's) of a dual cotangent ``g``: the rule run on each part.

    Valid because such a rule is linear in ``g`` and reads no saved values
    (``vjp_reads=()``): the dual level's result is ``(vjp(g.primal), vjp(g.tangent))``.  Index
    and values stay sparse (:class:`_DualSparse`), so the sweep adds them into one dual buffer
    per base instead of scattering each use into two new zero arrays and adding those; any
    other case goes through the primitive's own rule.
    """
    parts = _plain_parts(g) if prim.vjp_reads == () else None
    if parts is None:
        return prim.vjp(g, node.primals, node.out, wanted, **node.params)
    primal, tangent = parts
    primals, out, params = node.primals, node.out, node.params
    results = []
    for cp, ct in zip(prim.sparse_vjp(primal, primals, out, wanted, **params),
                      prim.sparse_vjp(tangent, primals, out, wanted, **params)):
        if type(cp) is SparseCotangent and type(ct) is SparseCotangent:
            results.append(_DualSparse((cp, ct), g))
        else:
            cp = cp.dense() if type(cp) is SparseCotangent else cp
            ct = ct.dense() if type(ct) is SparseCotangent else ct
            results.append(Dual._make(cp, ct, g._level, g._n_batch))
    return results


def _add_dual_slice(cotangents: dict, owned: set, key, g, node):
    """The cotangent of ``x[a:b]`` (a slice, the node ``node``) for a dual cotangent ``g`` of
    plain array parts, added into the parts of the dual buffer the sweep owns for ``x``
    (``key``) or made that buffer: what :func:`_dual_sparse_vjp` and
    :func:`~autodiff.rules.indexing.accumulate_sparse` do with the index-and-values
    cotangent of each part (``zeros`` of ``x``'s shape and the values' dtype, then ``values``
    added into the slice's view; :func:`~autodiff.rules.indexing.add_into_slice`), without
    making the two :class:`~autodiff.rules.indexing.SparseCotangent` s and their pair.  The
    same NumPy calls on the same operands, so the same bits.  ``True`` when it made the
    buffer, ``False`` when it added into it, ``None`` for anything else (a batch, another
    index, a buffer of another kind, level or dtype): the caller takes the general path.
    """
    index = node.params["index"]
    parts = ew.plain_array_parts(g) if type(index) is slice else None
    if parts is None:
        return None
    gp, gt = parts
    if gp.shape != shape_of(node.out):
        return None
    shape = shape_of(node.primals[0])
    current = cotangents.get(key)
    if current is None:
        primal, tangent = np.zeros(shape, gp.dtype), np.zeros(shape, gt.dtype)
        add_into_slice(primal, index, gp)
        add_into_slice(tangent, index, gt)
        cotangents[key] = Dual._make(primal, tangent, g._level, 0)
        owned.add(key)
        return True
    if type(current) is not Dual or key not in owned or current._level is not g._level:
        return None
    buffer = ew.plain_array_parts(current)
    if buffer is None or buffer[0].shape != shape or buffer[0].dtype != gp.dtype:
        return None
    add_into_slice(buffer[0], index, gp)
    add_into_slice(buffer[1], index, gt)
    return False


def overwritable(g, ours: bool) -> bool:
    """Whether the rule of the node whose complete cotangent is the dual ``g`` may write into
    ``g``'s parts (:data:`~autodiff.rules.elementwise.OVERWRITABLE`): plain arrays of an
    active level that own their memory and can be written, and nobody but the sweep holds
    ``g`` and them -- a buffer the sweep made (``ours``), or a rule's result that the sweep
    alone holds now (``sys.getrefcount``: the caller's name, this function's and
    ``getrefcount``'s own for ``g``; ``g``'s attribute, the name here and ``getrefcount``'s
    for each part).  A rule then negates ``g`` in place (``-g`` of ``1 - x``) or writes a
    product into it instead of making new arrays: the same NumPy calls, the same bits."""
    p, t = g._primal_, g.tangent
    if not (
        type(p) is np.ndarray and type(t) is np.ndarray and p.base is None and t.base is None
        and p.flags.writeable and t.flags.writeable and g._level.active
    ):
        return False
    return ours or (
        ew.REFCOUNTS_EXACT
        and sys.getrefcount(g) == 3 and sys.getrefcount(p) == 3 and sys.getrefcount(t) == 3
    )


def backward_pass(outputs, seeds, retain_graph: bool = False, on_node=None) -> dict:
    """Sweep back from ``outputs`` seeded with ``seeds`` (see :func:`_sweep`)."""
    with cyclic_gc_spaced():
        return _sweep(outputs, seeds, retain_graph, on_node)


_FIRST = [0]  # the one input of a single-input node
# the inputs that need a cotangent, for a two-input node by which of them are traced (shared:
# rules read ``wanted``, never change it)
_WANTED_OF_TWO = {(True, True): [0, 1], (True, False): _FIRST, (False, True): [1],
                  (False, False): []}


def _sweep(outputs, seeds, retain_graph: bool, on_node=None) -> dict:
    """Sweep back from ``outputs`` (``Var`` s) seeded with ``seeds``; return leaf cotangents.

    The result maps each reached leaf ``Var`` (no node) to its summed cotangent.  Nodes are
    visited in decreasing sequence number (a max-heap), so each node's cotangent is complete
    before its rule runs.  Float nodes of elementwise primitives take a short path: the rule
    table's own chain-rule product (:func:`~autodiff.rules.elementwise.chain_product`) and
    sums in Python arithmetic.

    Without ``retain_graph`` each node is released once its rule has run (at the next
    step), except the first one visited, the output's: it is released after all the others.
    What it saved (``sum``'s operand, say) was the forward pass's last allocation, at the
    top of the heap; held there while the sweep runs, the memory the sweep frees below it
    stays with the process for the sweep's own arrays, instead of being returned to the
    system (glibc trims the top of the heap as soon as its free part exceeds the trim
    threshold, 1.6 MB after an 800 kB array was freed) and faulted back page by page.
    ``ad.hvp`` of vectorised Rosenbrock at ``n = 1e5``: 12 arrays of ``n`` taken from the
    system per call instead of 15 (the same order with the output's node released first).

    ``on_node(node, cotangent, input_cotangents)``, when given, is called after each node's
    rule with the node's complete output cotangent and its inputs' contributions (one per
    parent slot, ``None`` for constants and symbolic zeros): the inspection trace reads the
    sweep through it.  Every node then takes the rule's own ``vjp`` (the short path gives the
    same numbers: both multiply with ``chain_product``).
    """
    cotangents = {}
    owned = set()
    vars_by_seq = {}
    cursors = {}  # version_before's walk along rewritten values
    heap = []
    for var, seed in zip(outputs, seeds):
        if _accumulate(cotangents, owned, var._seq, seed):
            vars_by_seq[var._seq] = var
            heap.append(-var._seq)
    heapq.heapify(heap)
    heappop, heappush = heapq.heappop, heapq.heappush
    leaves = {}
    finished = None  # without retain_graph: the node whose rule ran last, released next
    last = None  # without retain_graph: the first node visited, released after the others
    check = _debug.get()
    while heap:
        if finished is not None:
            finished.release()
            finished = None
        seq = -heappop(heap)
        var = vars_by_seq.pop(seq)
        g = cotangents.pop(seq)
        node = var._node
        if node is None:
            leaves[var] = g
            continue
        if node.released:
            raise _released_error(node)
        if check and node.checksums is not None:
            node.verify()
        if not retain_graph:
            if last is None:
                last = node
            else:
                finished = node
        parents = node.parents
        prim = node.prim
        if type(g) is float and on_node is None:  # the scalar paths
            if prim is getitem and prim.sparse_vjp:
                index = node.params["index"]
                if type(index) is int:
                    # x[i] of a float64 vector (Var.__getitem__'s node): g is added into x's
                    # buffer in place, as its SparseCotangent would be, without making one
                    parent = parents[0]
                    key = parent._seq
                    if key >= seq:  # x written into (x[j] = v) after this node read it
                        parent = version_before(parent, seq, cursors)
                        key = parent._seq
                    current = cotangents.get(key)
                    shape = node.primals[0].shape
                    if type(current) is np.ndarray and key in owned and current.shape == shape:
                        current[index] += g
                    elif _accumulate(cotangents, owned, key, SparseCotangent(index, g, shape, 0)):
                        vars_by_seq[key] = parent
                        heappush(heap, -key)
                    continue
            partials = getattr(prim, "partials", None)
            if partials and type(node.out) is float:
                primals = node.primals
                for i, parent in enumerate(parents):
                    if parent is None:
                        continue
                    c = chain_product(partials[i](*primals, node.out), g)
                    key = parent._seq
                    if key >= seq:  # written into (y[i] = v) after this node read it
                        parent = version_before(parent, seq, cursors)
                        key = parent._seq
                    current = cotangents.get(key)
                    if current is None:
                        cotangents[key] = c
                        vars_by_seq[key] = parent
                        heappush(heap, -key)
                    elif type(current) is float and type(c) is float:
                        cotangents[key] = current + c
                    else:
                        _accumulate(cotangents, owned, key, c)
                continue
            if prim.sparse_vjp is not None:
                # x[i] of a float64 array: its index-and-value cotangent goes straight into x's
                # buffer (one dense array per base per sweep)
                parent = parents[0]
                if parent._seq >= seq:
                    parent = version_before(parent, seq, cursors)
                key = parent._seq
                (c,) = prim.sparse_vjp(g, node.primals, node.out, _FIRST, **node.params)
                if _accumulate(cotangents, owned, key, c):
                    vars_by_seq[key] = parent
                    heappush(heap, -key)
                continue
        if len(parents) == 2:
            wanted = _WANTED_OF_TWO[parents[0] is not None, parents[1] is not None]
        elif len(parents) == 1 and parents[0] is not None:
            wanted = _FIRST
        else:
            wanted = [i for i, p in enumerate(parents) if p is not None]
        results = c = None  # the previous node's contributions: g's holders are counted next
        if prim.sparse_vjp is None or on_node:
            if (type(g) is Dual and len(wanted) == 1 and not on_node
                    and overwritable(g, seq in owned)):  # (a rule overwrites for one input)
                held = ew.OVERWRITABLE.value
                ew.OVERWRITABLE.value = g
                try:
                    results = prim.vjp(g, node.primals, node.out, wanted, **node.params)
                finally:
                    ew.OVERWRITABLE.value = held
            else:
                results = prim.vjp(g, node.primals, node.out, wanted, **node.params)
        elif type(g) is Dual:
            if prim is getitem and wanted is _FIRST:  # x[a:b]: into x's dual buffer
                parent = parents[0]
                key = parent._seq
                if key >= seq:  # x written into (x[j] = v) after this node read it
                    parent = version_before(parent, seq, cursors)
                    key = parent._seq
                made = _add_dual_slice(cotangents, owned, key, g, node)
                if made is not None:
                    if made:
                        vars_by_seq[key] = parent
                        heappush(heap, -key)
                    continue
            results = _dual_sparse_vjp(prim, g, node, wanted)
        else:
            vjp = prim.vjp if isinstance(g, Traced) else prim.sparse_vjp
            results = vjp(g, node.primals, node.out, wanted, **node.params)
        if on_node:
            contributions = [None] * len(parents)
            for i, c in zip(wanted, results):
                contributions[i] = c
            on_node(node, g, contributions)
        for i, c in zip(wanted, results):
            if c is None:
                continue
            parent = parents[i]
            key = parent._seq
            if key >= seq:  # written into (y[i] = v) after this node read it
                parent = version_before(parent, seq, cursors)
                key = parent._seq
            if key not in cotangents and type(c) is not SparseCotangent and (
                type(c) is not _DualSparse
            ):  # the first cotangent of a dense value (_accumulate's first case)
                cotangents[key] = c
            elif not _accumulate(cotangents, owned, key, c):
                continue
            vars_by_seq[key] = parent
            heappush(heap, -key)
    if finished is not None:
        finished.release()
    if last is not None:
        last.release()
    return leaves
