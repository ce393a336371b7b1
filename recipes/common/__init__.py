"""Pieces every Keras recipe trainer shares: resumable batch order, checkpoint I/O, step timing, output files.

Nothing here imports tensorflow: recipes must run unchanged under KERAS_BACKEND=jax.
"""
