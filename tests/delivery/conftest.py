"""The delivery tests run the real node too: reuse the node fixtures."""

from tests.node.conftest import node_factory  # noqa: F401
