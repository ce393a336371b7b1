# Ascend image: a CANN + TF-Ascend base image (there is no public default: give it with --base_image), the
# launcher's dependencies on top. The host's driver, dcmi and npu-smi are mounted read-only at run time and the
# cards passed as /dev/davinci* nodes (or ASCEND_VISIBLE_DEVICES with Ascend Docker Runtime).
# Built by `launcher build RECIPE --device ascend:0 --base_image IMAGE`; the tag hashes this file,
# requirements.txt and BASE_IMAGE.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/tmp \
    LD_LIBRARY_PATH=/usr/local/Ascend/driver/lib64:/usr/local/Ascend/driver/lib64/common:/usr/local/Ascend/driver/lib64/driver:${LD_LIBRARY_PATH}

# requirements.txt: pyproject.toml's dependencies without TensorFlow: the base image's TF-Ascend stays.
COPY requirements.txt /opt/launcher/requirements.txt
RUN python3 -m pip install -r /opt/launcher/requirements.txt

ENV PYTHONPATH=/code:/opt/launcher
WORKDIR /code
