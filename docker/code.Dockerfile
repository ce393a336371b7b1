# A job's code over a dependencies image, for daemons and platforms that cannot mount it (a remote Docker host,
# ModelArts, Volcano). Built by `launcher build RECIPE --with_code`; the launcher assembles the context
# (project/ = the launcher and entry packages, code/ = the recipe's code dir, both filtered by
# context.dockerignore and the code dir's own .dockerignore) and tags it with a hash of it.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}

COPY project/ /opt/launcher/
COPY code/ /code/
ENV PYTHONPATH=/code:/opt/launcher
WORKDIR /code
