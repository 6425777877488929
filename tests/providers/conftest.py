"""Fixtures shared by the driver tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from photochanger.providers.base import ImageInput
from tests.support.drivers import linked_input
from tests.support.mockserver import FileHost


@pytest.fixture
def files() -> Iterator[FileHost]:
    """Serves input images at URLs, as ``/public/provider-media`` links do."""
    with FileHost() as host:
        yield host


@pytest.fixture
def photo(files: FileHost) -> ImageInput:
    """The guest photo (red), with its public link."""
    return linked_input(files, "photo.jpg", "photo", (200, 10, 10))


@pytest.fixture
def template(files: FileHost) -> ImageInput:
    """A slot template (blue), with its public link."""
    return linked_input(files, "tpl.jpg", "template", (10, 10, 200))
