"""convlab: convolutional neural networks from scratch in NumPy, with interactive lessons.

The core, one idea per module (NumPy only; none imports matplotlib or ipywidgets when imported):
``arith`` (output sizes), ``im2col`` (im2col/col2im), ``layers``, ``nets``, ``optim``,
``gradcheck``, ``data`` (MNIST, Fashion-MNIST), ``train`` (Trainer), ``analysis`` (the numbers
the lessons show), ``pretrained`` (the shipped nets), ``plot`` (the accuracy figure; matplotlib
only while it draws), ``platform`` (are we in a browser?) and ``cli`` (``python -m convlab``).
Speed lives in one package, ``fast`` (the fused step, fast twins of the layers, threads, BLAS
control), proven equal to the layers; the trainer uses it. The lessons live in ``lessons`` (one
module per notebook, with matplotlib and ipywidgets); ``exercises`` is their public face.
"""
from . import _startup  # noqa: F401  (first: a Ctrl-C while `python -m convlab` starts is quiet)
from .arith import conv_output_size, conv_output_size_2d, uncovered
from .im2col import col2im, im2col
from .layers import (LRN, Affine, Convolution, Dropout, Pooling, Relu, Sigmoid, SoftmaxWithLoss)
from .nets import AlexNetStyle, DeepConvNet, LeNet, Net, SimpleConvNet, build_net, load_net
from .optim import SGD, AdaGrad, Adam, Momentum, make_optimizer
from .gradcheck import numerical_gradient, rel_error

__version__ = "0.1.0"
