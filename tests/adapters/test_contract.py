"""Every provider passes the same contract scenarios (see tests/adapters/contract.py)."""

from __future__ import annotations

import pytest

from tests.adapters.contract import PROVIDERS, SCENARIOS, ProviderCase


@pytest.mark.parametrize("case", PROVIDERS, ids=lambda c: c.name)
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_contract(case: ProviderCase, name: str) -> None:
    """The provider yields the scenario's normalized events and client-visible behaviour."""
    SCENARIOS[name](case)


def test_every_registered_provider_is_under_contract() -> None:
    """Each provider in adapters.ADAPTERS has a contract case."""
    from realtime_client.adapters import ADAPTERS

    assert sorted(ADAPTERS) == sorted(c.name for c in PROVIDERS)
