"""launcher: submit training recipes to local, Docker, ModelArts or Volcano backends and follow them."""

__version__ = "0.1.0"
