"""Boot scripts run inside the job (ModelArts, Volcano pod, Docker container or local process)."""
