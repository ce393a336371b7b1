"""Local backend: the entry as child processes of a detached supervisor on this machine."""
