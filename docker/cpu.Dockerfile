# CPU image: TensorFlow (Keras' default backend here). Dependencies only: the launcher mounts the project and
# the recipe's code dir at run time, or `launcher build --with_code` layers them on top (code.Dockerfile).
# Built by `launcher build RECIPE`; the tag is a hash of this file, requirements.txt and BASE_IMAGE.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    KERAS_BACKEND=tensorflow \
    HOME=/tmp

# requirements.txt is made by `launcher build` from pyproject.toml's dependencies.
COPY requirements.txt /opt/launcher/requirements.txt
RUN python -m pip install -r /opt/launcher/requirements.txt

ENV PYTHONPATH=/code:/opt/launcher
WORKDIR /code
