# GPU image: Keras on JAX with CUDA 12 from pip wheels (no TensorFlow: the recipes train without it).
# The host needs the NVIDIA driver and container toolkit; the launcher passes GPUs as device requests (--gpus).
# Built by `launcher build RECIPE --device gpu:all`; the tag is a hash of this file, requirements.txt and BASE_IMAGE.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    KERAS_BACKEND=jax \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    HOME=/tmp

# requirements.txt: pyproject.toml's dependencies without TensorFlow, plus jax[cuda12].
COPY requirements.txt /opt/launcher/requirements.txt
RUN python -m pip install -r /opt/launcher/requirements.txt

ENV PYTHONPATH=/code:/opt/launcher
WORKDIR /code
