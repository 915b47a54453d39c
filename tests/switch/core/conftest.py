"""Fixtures of the switch core tests: the office config and a fresh fake runtime around a Switch."""
import pytest

from firmware.switch.model import Config
from tests.switch.core.harness import Harness, office_config


@pytest.fixture
def config() -> Config:
    return office_config()


@pytest.fixture
def box(config: Config) -> Harness:
    return Harness(config)
