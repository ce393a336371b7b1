"""A YAML loader for files from users: safe tags only, and bounded in size after alias expansion and in depth.

PyYAML shares an aliased node instead of copying it, so a few hundred bytes of nested aliases ("billion laughs")
load quickly but expand to gigabytes as soon as anything walks the result (validation, JSON for the job); and
its composer recurses once per nesting level, so 50,000 `[` end in a RecursionError. Both are refused while
composing, before any value is built, with the line and column of the offending node.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.nodes import MappingNode, Node, SequenceNode

MAX_DEPTH = 64  # nesting of the expanded document; a recipe needs a handful
MAX_NODES = 100_000  # scalars and collections in the expanded document; a recipe has a few hundred


class YAMLTooComplex(ComposerError):
    """A well-formed document refused for its expanded size or depth."""


class _BoundedSafeLoader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0
        self._open_anchors: set[str] = set()
        self._sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded node count, expanded depth)

    def compose_node(self, parent: Node | None, index: Any) -> Node:  # noqa: ANN401 - PyYAML's signature
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self._count_alias(event)
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            self._refuse(f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
        self._nodes += 1
        if self._nodes > MAX_NODES:
            self._refuse(f"more than {MAX_NODES} values", event.start_mark)
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self._open_anchors.add(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1
            if anchor is not None:
                self._open_anchors.discard(anchor)

    def _count_alias(self, event: yaml.AliasEvent) -> None:
        if event.anchor in self._open_anchors:
            self._refuse(f"alias *{event.anchor} refers to a node that contains it", event.start_mark)
        target = self.anchors.get(event.anchor)
        if target is None:
            return  # PyYAML reports the undefined alias itself
        count, depth = self._expanded(target)
        self._nodes += count
        if self._nodes > MAX_NODES:
            self._refuse(f"aliases expand to more than {MAX_NODES} values", event.start_mark)
        if self._depth + depth > MAX_DEPTH:
            self._refuse(f"aliases expand to more than {MAX_DEPTH} levels of nesting", event.start_mark)

    def _expanded(self, node: Node) -> tuple[int, int]:
        """Size and depth of `node` with every alias inside it expanded (memoized: shared nodes count once
        per use but are measured once). Recursion is bounded: what was composed is at most MAX_DEPTH deep."""
        known = self._sizes.get(id(node))
        if known is not None:
            return known
        children: list[Node] = []
        if isinstance(node, SequenceNode):
            children = list(node.value)
        elif isinstance(node, MappingNode):
            children = [part for pair in node.value for part in pair]
        count, depth = 1, 0
        for child in children:
            child_count, child_depth = self._expanded(child)
            count += child_count
            depth = max(depth, child_depth)
        self._sizes[id(node)] = (count, depth + 1)
        return count, depth + 1

    @staticmethod
    def _refuse(problem: str, mark: yaml.Mark) -> None:
        raise YAMLTooComplex(None, None, problem, mark)


def load_bounded(text: str) -> Any:  # noqa: ANN401 - any YAML document
    """`yaml.safe_load` for untrusted text; raises yaml.YAMLError (with a mark) on anything too big or deep."""
    loader = _BoundedSafeLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
