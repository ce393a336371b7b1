"""Training recipes: `<name>.yaml` next to a `recipes/<name>/` package (model, data readers, trainer)."""
