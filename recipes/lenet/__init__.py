"""LeNet-5 on MNIST, re-implemented from Huawei ModelZoo LeNet_ID0127_for_TensorFlow in Keras 3.

`hparams` is imported by the CLI to validate overrides, so this package imports nothing heavy.
"""
