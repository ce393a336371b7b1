"""`launcher build RECIPE`: build and tag the image a recipe runs in, only when what goes into it changed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from launcher.backends.docker.client import connect
from launcher.backends.docker.images import (
    BuildPlan,
    Flavor,
    build,
    code_plan,
    dependencies_plan,
    flavor_of,
    image_present,
)
from launcher.errors import UserError
from launcher.jobspec import find_code_dir
from launcher.recipe import load_recipe


class BuiltImage(BaseModel):
    tag: str
    built: bool  # False: an image with this content hash was already there


def build_images(
    recipe: str | Path,
    device: str | None = None,
    base_image: str | None = None,
    with_code: bool = False,
    dockerfile: str | Path | None = None,
    docker_host: str | None = None,
    force: bool = False,
    echo: Callable[[str], None] = print,
) -> list[BuiltImage]:
    """The dependencies image for the recipe's device, then (with_code) its code image over it."""
    spec = load_recipe(recipe)
    flavor: Flavor = flavor_of(device or spec.resources.device)
    plans: list[BuildPlan] = [dependencies_plan(flavor, base_image, dockerfile)]
    if with_code:
        if spec.trainer is None:
            code_dir = Path(recipe).resolve().parent
        else:
            code_dir = find_code_dir(Path(recipe).resolve(), spec.trainer)
        plans.append(code_plan(plans[0].tag, spec.name, code_dir))
    client = connect(docker_host, timeout=None)  # a RUN step may be silent for longer than any read timeout
    results = []
    for plan in plans:
        if not force and image_present(client, plan.tag):
            echo(f"{plan.tag} is up to date")
            results.append(BuiltImage(tag=plan.tag, built=False))
            continue
        echo(f"building {plan.tag}")
        build(client, plan, echo)
        results.append(BuiltImage(tag=plan.tag, built=True))
    return results


def build_command(
    recipe: str,
    device: str | None = None,
    base_image: str | None = None,
    with_code: bool = False,
    dockerfile: str | None = None,
    docker_host: str | None = None,
    force: bool = False,
) -> None:
    """Build the Docker image RECIPE runs in and print its tag; rebuilt only when the Dockerfile or dependencies
    changed (their content hash is the tag).

    The flavour follows the recipe's device (or --device): cpu (TensorFlow), gpu (JAX, CUDA) or ascend (needs
    --base_image, a CANN/TF-Ascend image). --with_code adds an image holding the project and the recipe's code dir
    (for a Docker host that cannot mount them; submit with --code image). --dockerfile replaces docker/<flavour>.Dockerfile,
    --docker_host picks the daemon, --force rebuilds."""
    if dockerfile is not None and not Path(dockerfile).is_file():
        raise UserError(f"--dockerfile {dockerfile}: no such file")
    images = build_images(recipe, device, base_image, with_code, dockerfile, docker_host, force)
    final = images[-1].tag
    print(f"image: {final}")
    print(
        f"run with: launcher submit {recipe} --backend docker --image {final}" + (" --code image" if with_code else "")
    )
