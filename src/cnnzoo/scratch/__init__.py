"""The NumPy engine: every forward and backward pass of a CNN written by hand.

Imports NumPy only. ``functional`` holds the ops (forward/backward pairs),
``conv_theory`` the ways of computing a convolution (Goodfellow et al. 2016, ch. 9),
``filters`` the classic image filters (Gaussian, Sobel, box, median) and ``resize``
bilinear resizing, ``layers`` modules with parameters, ``optim`` the optimizers,
``clip`` gradient clipping, ``init`` the initialisers, ``gradcheck`` finite
differences, ``demos`` why initialisation and the choice of loss matter, ``lenet`` and
``train`` a LeNet-5 trained on the digits. The tests check every op against PyTorch
(or SciPy).
"""
