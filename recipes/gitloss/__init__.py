"""Git loss (Calefati et al. 2018) on MNIST with a 2-D feature, from Huawei ModelZoo Gitloss_ID1277_for_TensorFlow.

`hparams` is imported by the CLI to validate overrides, so this package imports nothing heavy.
"""
