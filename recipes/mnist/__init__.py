"""MNIST in its original idx-ubyte format, shared by the LeNet and GitLoss recipes."""

from recipes.mnist.idx import DataError, MnistSplits, load_mnist, write_mnist

__all__ = ["DataError", "MnistSplits", "load_mnist", "write_mnist"]
