"""`launcher ui`: a live web dashboard over the same API as the CLI (job store, backends, launcher.storage).

    from launcher.ui import create_app, serve
    serve(port=8765)              # 127.0.0.1 only; another --host needs the printed token

Modules: outputs.py (a job's files in train_url, read and confined), curves.py (series from progress.json,
history.json and TensorBoard event files), views.py (what each page shows), security.py (token, CSRF, hosts,
headers), app.py (the FastAPI routes), server.py (uvicorn on a socket we bind ourselves).
"""

from launcher.ui.app import create_app
from launcher.ui.server import serve

__all__ = ["create_app", "serve"]
