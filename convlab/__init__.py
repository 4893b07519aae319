"""convlab: convolutional neural networks from scratch in NumPy, with interactive lessons.

One idea per module: ``arith`` (output sizes), ``im2col`` (im2col/col2im), ``layers``,
``nets``, ``optim``, ``gradcheck``, ``data`` (MNIST), ``train`` (Trainer), ``plots``, ``widgets``.
"""
from .arith import conv_output_size, conv_output_size_2d, uncovered
from .im2col import col2im, im2col
from .layers import (LRN, Affine, Convolution, Dropout, Pooling, Relu, Sigmoid, SoftmaxWithLoss)
from .nets import AlexNetStyle, DeepConvNet, LeNet, Net, SimpleConvNet, build_net, load_net
from .optim import SGD, AdaGrad, Adam, Momentum, make_optimizer
from .gradcheck import numerical_gradient, rel_error

__version__ = "0.1.0"
