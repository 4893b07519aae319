"""The implement-it exercises in one place: each ``check_*(fn)`` runs the learner's function
against convlab's own implementation on many configurations and prints one PASS or FAIL line
with a hint naming the likely mistake (machinery: ``convlab.lessons.implement``). Each check
lives in the module of the lesson that teaches it; this module gathers them:

    lesson 2  check_conv2d_naive        lesson 4  check_im2col, check_col2im
    lesson 3  check_max_pool_naive      lesson 5  check_conv_backward, check_max_pool_backward
    lesson 10 check_convolution_layer, check_pooling_layer (whole classes: layer_checks)
"""
from __future__ import annotations

from .lessons.lesson02 import check_conv2d_naive
from .lessons.lesson03 import check_max_pool_naive
from .lessons.lesson04 import check_col2im, check_im2col
from .lessons.lesson05 import check_conv_backward, check_max_pool_backward
from .lessons.layer_checks import check_convolution_layer, check_pooling_layer

__all__ = ["check_conv2d_naive", "check_max_pool_naive", "check_im2col", "check_col2im",
           "check_conv_backward", "check_max_pool_backward", "check_convolution_layer",
           "check_pooling_layer"]
