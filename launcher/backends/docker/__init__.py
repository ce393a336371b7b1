"""Docker backend: the entry in a container on one machine, through the Docker SDK for Python."""
