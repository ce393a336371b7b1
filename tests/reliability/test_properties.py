"""Property-based checks: URL parsing and key safety, recipe validation and hyperparameter overrides."""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from launcher.errors import UserError
from launcher.jobspec import plan_job
from launcher.recipe import RecipeError, load_recipe, resolve_hyperparameters
from launcher.storage.errors import InvalidURL, UnsafeKey
from launcher.storage.urls import check_key, parse_url

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
segment = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=12)
keys = st.lists(st.one_of(segment, st.sampled_from(["..", ".", "", "a", "\x00", "ü ñ"])), min_size=1, max_size=6).map("/".join)


@given(keys)
def test_a_checked_key_never_leaves_its_folder(key: str) -> None:
    try:
        check_key(key)
    except UnsafeKey:
        return
    root = "/srv/target"
    joined = os.path.normpath(os.path.join(root, key))
    assert joined == root or joined.startswith(root + "/")
    assert "\x00" not in key and not key.startswith("/")


@given(st.sampled_from(["obs", "s3"]), st.from_regex(r"[a-z0-9][a-z0-9.-]{2,20}", fullmatch=True), keys)
def test_object_urls_parse_or_fail_cleanly(scheme: str, bucket: str, key: str) -> None:
    try:
        url = parse_url(f"{scheme}://{bucket}/{key}")
    except InvalidURL:  # UnsafeKey included: a clear error, never another exception
        return
    assert url.scheme in ("obs", "s3") and url.bucket == bucket
    if url.key.rstrip("/"):
        check_key(url.key.rstrip("/"))  # whatever parses is a key that cannot climb out


@given(st.one_of(st.text(max_size=40), st.builds("".join, st.lists(st.sampled_from(
    ["obs://", "s3://", "file://", "bucket", "/", "..", ".", "%2e", "~", "\x00", "a", "://", " "]), max_size=8))))
def test_any_text_as_url_is_parsed_or_refused_with_a_user_error(text: str) -> None:
    """Any text is a URL or a one-line UserError; what parses is an absolute local path or an object URL with a
    valid bucket and a safe key, which prints back to the same URL."""
    try:
        url = parse_url(text)
    except UserError as error:
        assert str(error) and "\n" not in str(error)
        return
    if url.is_local:
        assert os.path.isabs(url.path) and "\x00" not in url.path and url.bucket == ""
        return
    assert url.scheme in ("obs", "s3") and url.bucket and ".." not in url.bucket
    if url.key.rstrip("/"):
        check_key(url.key.rstrip("/"))
    assert parse_url(str(url)) == url


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(["name", "trainer", "hyperparameters_model", "data_url", "output_url",
                                        "resources", "hyperparameters", "legacy", "demo_data", "extra_key"]),
                       json_values, max_size=8))
def test_any_recipe_document_loads_or_fails_with_one_recipe_error(tmp_path_factory, document: dict) -> None:  # noqa: ANN001
    path = tmp_path_factory.mktemp("recipe") / "r.yaml"
    path.write_text(yaml.safe_dump(document))
    try:
        recipe = load_recipe(path)
    except RecipeError as error:
        assert "\n" not in str(error)  # one line
        return
    assert recipe.name == document["name"]


@given(st.dictionaries(st.sampled_from(["steps", "step_seconds", "flag", "note", "other"]), json_values, max_size=4))
def test_any_override_is_typed_or_refused_naming_the_field(overrides: dict) -> None:
    plan_job(FIXTURES / "toy_counter.yaml")  # puts the toy models on sys.path
    try:
        hp = resolve_hyperparameters(load_recipe(FIXTURES / "toy_counter.yaml"), overrides)
    except RecipeError as error:
        message = str(error)
        assert "\n" not in message and any(f"{name}:" in message for name in overrides)
        return
    assert isinstance(hp.steps, int) and hp.steps > 0 and isinstance(hp.flag, bool)
