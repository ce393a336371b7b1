"""`launcher submit|render RECIPE [--backend B] --help`: the recipe's hyperparameters and the backend's options."""

from __future__ import annotations

from launcher.backends import backend_class
from launcher.flags import HP_PREFIX, RESOURCE_FLAGS
from launcher.helptext import field_rows, format_rows
from launcher.jobspec import locate_recipe
from launcher.recipe import Resources, hyperparameters_class

FLAGS_SCHEME = (
    "flags: --{hp}.NAME VALUE sets a hyperparameter, --{b}.NAME VALUE a resource or {b} option; plain --NAME VALUE\n"
    "works when only one of them has that name. Values are taken as typed and checked against the field's type."
)


def command_help(command: str, recipe_path: str | None, backend: str | None) -> str:
    head = f"usage: launcher {command} RECIPE [--backend NAME] [--perf] [--data_url URL] [--train_url URL]"
    head += " [--detach]" if command == "submit" else ""
    head += " [FLAGS]"
    if recipe_path is None:
        return head + "\n\n" + FLAGS_SCHEME.format(hp=HP_PREFIX, b="<backend>") + "\n(give RECIPE to see its hyperparameters)"
    recipe, _, _ = locate_recipe(recipe_path)
    name = backend or recipe.resources.backend
    cls = backend_class(name)
    model = hyperparameters_class(recipe)
    values = recipe.hyperparameter_values()
    both = sorted(n for n in model.model_fields if n in RESOURCE_FLAGS or n in cls.Options.model_fields)
    resources = [row for row in field_rows(Resources, recipe.resources.model_dump()) if row[0] in RESOURCE_FLAGS]
    parts = [
        head,
        f"\n{recipe.name}: {recipe.description}".rstrip(),
        "\n" + FLAGS_SCHEME.format(hp=HP_PREFIX, b=name),
        f"\nhyperparameters (--{HP_PREFIX}.NAME; default: the recipe's value, else the model's):",
        format_rows(field_rows(model, values)) if model.model_fields else "  any --NAME=VALUE, passed to the scripts",
        f"\nresources (--{name}.NAME):",
        format_rows(resources),
        f"\n{name} options (--{name}.NAME):",
        format_rows(field_rows(cls.Options)),
    ]
    if both:
        parts.append(
            f"\nnames of both kinds, which need their prefix: {', '.join(both)} "
            f"(e.g. --{HP_PREFIX}.{both[0]} / --{name}.{both[0]})"
        )
    return "\n".join(parts)

