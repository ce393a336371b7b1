"""SESEMI (Tran 2019): semi-supervised learning with a self-supervised branch, on CIFAR-10, from Huawei
ModelZoo SESEMI_ID1270_for_TensorFlow (code: vuptran/sesemi).

`hparams` is imported by the CLI to validate overrides, so this package imports nothing heavy.
"""
