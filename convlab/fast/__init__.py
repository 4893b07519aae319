"""The fast path: the only home of convlab's speed code. ``Trainer`` and evaluation run a net
through :func:`compile_net`'s plan; the layer classes a learner reads (``convlab.layers``) and
the update rules (``convlab.optim``) stay plain, and every plan computes their numbers.

* ``plan.LayerPlan``: any :class:`convlab.nets.Net`, its layers swapped for fast twins
  (``layers``: Convolution, Pooling, Relu, Sigmoid, LRN) that share its parameters, with a ``workspace``
  lending the big arrays step after step and the optimiser's update from ``optim``; the batch
  cut into one slice per thread;
* ``fused.FusedSimpleConvNet``: SimpleConvNet's whole step in fewer passes, on threads,
  where the net has that shape;
* ``blocks.BlockPlan``: a LayerPlan whose training step runs conv - activation - pooling blocks
  and an affine head in the fused step's layout (LeNet-shaped nets);
* ``infer.Inference``: the forward pass alone for evaluation (``LayerPlan.predict`` and
  ``accuracy``): images last from layer to layer, no state kept for a backward pass;
* ``threads``: the worker threads both use, one slice of a batch each (``blas`` keeps OpenBLAS
  to one thread per worker);
* ``kernels``: the named tricks behind the twins, each proven equal to its plain version.

No threads (Pyodide), no controllable BLAS or no /proc: everything runs on one thread, quietly.
"""
from __future__ import annotations

import warnings

from .. import layers as plain
from .blocks import BlockPlan, blocks_for
from .fused import EVAL_BATCH, FusedSimpleConvNet, fused_for
from .plan import LayerPlan
from .threads import Workers, default_threads

__all__ = ["compile_net", "why_not", "LayerPlan", "BlockPlan", "FusedSimpleConvNet", "fused_for",
           "default_threads", "Workers", "EVAL_BATCH"]

KINDS = (plain.Convolution, plain.Pooling, plain.Relu, plain.Sigmoid, plain.Affine,
         plain.Dropout, plain.LRN)
"""The layer classes a plan can hold (exactly these: a subclass may compute something else)."""


def why_not(net):
    """None if :func:`compile_net` can plan ``net``, else a sentence saying why not."""
    if not isinstance(getattr(net, "layers", None), dict) or not hasattr(net, "_owner"):
        return f"{type(net).__name__} is not a convlab Net (no layers dict and parameter owners)"
    if type(getattr(net, "last_layer", None)) is not plain.SoftmaxWithLoss:
        return "its last layer is not convlab's SoftmaxWithLoss"
    for name, layer in net.layers.items():
        if type(layer) not in KINDS:
            return f"layer {name} is a {type(layer).__name__}, not one of convlab's layer classes"
    return None


def compile_net(net, threads=None, warn=True):
    """The fast plan for ``net``: the fused SimpleConvNet step where the net has its shape, else
    a :class:`BlockPlan` where it is made of conv - activation - pooling blocks and affine
    layers (LeNet), else a :class:`LayerPlan`. Every plan has ``step(x, t, optimizer)`` ->
    loss, ``accuracy(x, t, batch_size)``, ``predict(x)`` and ``eval_batch`` (its preferred
    evaluation batch or None).
    None for a net it cannot plan, saying why in a warning (``warn``) -- then run the net itself."""
    reason = why_not(net)
    if reason is not None:
        if warn:
            warnings.warn(f"convlab.fast: this net runs layer by layer without the fast path: "
                          f"{reason}", stacklevel=2)
        return None
    return fused_for(net, threads) or blocks_for(net, threads) or LayerPlan(net, threads)
