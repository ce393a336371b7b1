"""Deep cosine metric learning (Wojke & Bewley 2018) for person re-identification, from Huawei ModelZoo's port of
nwojke/cosine_metric_learning: the deep_sort appearance descriptor. Market-1501 and MARS.

`hparams` is imported by the CLI to validate overrides, so this package imports nothing heavy.
"""
