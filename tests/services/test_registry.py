"""ModelRegistryClient.find: names are not owned, so a bare name resolves only when one
owner registered it; (owner, name) always resolves."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ailedger.errors import NotFoundError
from ailedger.services import AmbiguousModelError, ModelDeprecatedError
from tests.services.conftest import FUNDING_WEI, PRICE

_ROUND = itertools.count()


def _register(services, account, name):
    return services.contracts.registry.register(
        account,
        name,
        model_hash=b"\x01" * 32,
        card_hash=b"\x02" * 32,
        price=PRICE,
        endpoint="http://127.0.0.1:9",
        log_id=b"\x03" * 32,
    )


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    holders=st.lists(
        st.tuples(st.sampled_from(["ann", "bob", "cy"]), st.sampled_from(["alpha", "beta"])),
        max_size=5,
        unique=True,
    )
)
def test_a_bare_name_resolves_only_when_exactly_one_owner_holds_it(services, holders):
    registry = services.contracts.registry
    prefix = f"r{next(_ROUND)}-"  # the registry lives across examples: fresh names each
    accounts = {
        who: services.platform.account(who, create=True, fund_wei=FUNDING_WEI)
        for who in {who for who, _ in holders}
    }
    listings = {
        (who, name): _register(services, accounts[who], prefix + name) for who, name in holders
    }
    for name in ("alpha", "beta"):
        owners = [who for who, held in holders if held == name]
        for who in owners:  # (owner, name) always resolves to that owner's model
            assert registry.find(prefix + name, accounts[who].address) == listings[(who, name)]
        if not owners:
            with pytest.raises(NotFoundError):
                registry.find(prefix + name)
        elif len(owners) == 1:
            assert registry.find(prefix + name) == listings[(owners[0], name)]
        else:
            with pytest.raises(AmbiguousModelError) as raised:
                registry.find(prefix + name)
            assert all(accounts[who].address in raised.value.message for who in owners)


def test_a_name_whose_only_listing_is_deprecated_says_so(services):
    registry = services.contracts.registry
    registry.deprecate(services.owner, services.listing.model_id)
    with pytest.raises(ModelDeprecatedError, match="deprecated"):
        registry.find("diagnosis")


def test_find_by_an_owner_who_has_no_such_model_is_not_found(services):
    with pytest.raises(NotFoundError, match=f"of owner {services.consumer.address}"):
        services.contracts.registry.find("diagnosis", services.consumer.address)
