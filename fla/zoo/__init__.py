"""Keras models for CIFAR (ResNets of He et al. 2016, DenseNets of Huang et al. 2017), their data,
their training, and the batched objective over their weights that NEB and curvature use."""
