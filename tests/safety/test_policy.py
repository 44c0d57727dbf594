"""Policy: the operator's standing answers, each refusal naming the setting that governs it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from venice_keys_mcp.safety.policy import (
    PolicyRefusal,
    PolicySettings,
    check_create,
    check_revoke,
    check_update,
    describe_widening,
)
from venice_keys_mcp.venice import KeyLimits

NOW = datetime(2026, 4, 20, 10, 0, tzinfo=UTC)
OWN_ID, OWN_LAST6 = "own-key-id", "aB3_x9"
CURRENT = {
    "usd_limit": 50.0,
    "diem_limit": None,
    "expires_at": None,
    "model_privacy": "PRIVATE_TEXT",
    "limit_period": "MONTH",
}


def settings(**kw: object) -> PolicySettings:
    return PolicySettings(**kw)


#: These tests' short names for the limits -> `KeyLimits` names.
LIMIT = {
    "usd": "usd_limit",
    "diem": "diem_limit",
    "expires_at": "expires_at",
    "limit_period": "limit_period",
    "model_privacy": "model_privacy",
}


def create(policy: PolicySettings, **kw: object) -> None:
    values: dict = {"key_type": "INFERENCE", "now": NOW}
    values.update(kw)
    limits = KeyLimits(**{LIMIT[k]: values.pop(k) for k in list(values) if k in LIMIT})
    check_create(policy, limits=limits, **values)


def update(policy: PolicySettings, **kw: object) -> None:
    """`new_usd=5.0` changes the USD cap to 5 (None: removes it); a field not named is unchanged."""
    values: dict = {"key_id": "k-1", "key_last6": "zzzzzz", "now": NOW}
    values.update(kw)
    changes = {LIMIT[k.removeprefix("new_")]: values.pop(k) for k in list(values) if k.startswith("new_")}
    check_update(policy, changes=changes, **values)


# -- create ----------------------------------------------------------------------------


def test_create_is_allowed_by_default():
    create(settings())
    create(settings(), usd=1_000_000, expires_at=NOW + timedelta(days=10_000))


def test_create_refuses_admin_keys_unless_allowed():
    with pytest.raises(PolicyRefusal) as info:
        create(settings(), key_type="ADMIN")
    assert info.value.setting == "VENICE_KEYS_ALLOW_ADMIN_KEYS"
    assert "VENICE_KEYS_ALLOW_ADMIN_KEYS" in str(info.value)
    create(settings(allow_admin_keys=True), key_type="ADMIN")
    create(settings(), key_type="INFERENCE")


def test_create_refuses_admin_keys_whatever_the_case():
    with pytest.raises(PolicyRefusal):
        create(settings(), key_type="admin")


@pytest.mark.parametrize(("field", "env"), [("usd", "VENICE_KEYS_MAX_USD"), ("diem", "VENICE_KEYS_MAX_DIEM")])
def test_create_with_a_max_cap_refuses_no_cap_and_caps_above_it(field, env):
    policy = settings(**{f"max_{field}": 100.0})
    with pytest.raises(PolicyRefusal) as info:
        create(policy)
    assert info.value.setting == env and env in info.value.message and "without" in info.value.message
    with pytest.raises(PolicyRefusal) as info:
        create(policy, **{field: 100.01})
    assert info.value.setting == env and "above this server's maximum of" in str(info.value)
    create(policy, **{field: 100.0})
    create(policy, **{field: 0})


def test_create_with_max_expiry_refuses_no_expiry_and_later_expiry():
    policy = settings(max_expiry_days=30)
    with pytest.raises(PolicyRefusal) as info:
        create(policy)
    assert info.value.setting == "VENICE_KEYS_MAX_EXPIRY_DAYS" and "never expires" in str(info.value)
    with pytest.raises(PolicyRefusal) as info:
        create(policy, expires_at=NOW + timedelta(days=30, seconds=1))
    assert "30 days" in str(info.value)
    create(policy, expires_at=NOW + timedelta(days=30))


def test_create_treats_naive_datetimes_as_utc():
    create(
        settings(max_expiry_days=1), expires_at=datetime(2026, 4, 21, 10, 0), now=datetime(2026, 4, 20, 10, 0)
    )


def test_read_only_refuses_every_write():
    policy = settings(read_only=True)
    for call in (
        lambda: create(policy),
        lambda: update(policy, new_usd=1.0),
        lambda: check_revoke(policy, key_id="k-1", key_last6="zzzzzz"),
    ):
        with pytest.raises(PolicyRefusal) as info:
            call()
        assert info.value.setting == "VENICE_KEYS_READ_ONLY"


# -- update ----------------------------------------------------------------------------


def test_update_applies_caps_to_new_values_only():
    policy = settings(max_usd=100.0, max_diem=5.0, max_expiry_days=30)
    update(policy)  # nothing changes
    update(policy, new_usd=99.0, new_diem=5.0, new_expires_at=NOW + timedelta(days=1))
    with pytest.raises(PolicyRefusal) as info:
        update(policy, new_usd=101.0)
    assert info.value.setting == "VENICE_KEYS_MAX_USD"
    with pytest.raises(PolicyRefusal) as info:
        update(policy, new_diem=None)
    assert info.value.setting == "VENICE_KEYS_MAX_DIEM" and "Removing the DIEM cap" in str(info.value)
    with pytest.raises(PolicyRefusal) as info:
        update(policy, new_expires_at=None)
    assert info.value.setting == "VENICE_KEYS_MAX_EXPIRY_DAYS" and "Removing the expiry" in str(info.value)
    with pytest.raises(PolicyRefusal):
        update(policy, new_expires_at=NOW + timedelta(days=31))


def test_update_without_maxima_allows_removing_caps():
    update(settings(), new_usd=None, new_diem=None, new_expires_at=None)


@pytest.mark.parametrize("ident", [{"key_id": OWN_ID}, {"key_last6": OWN_LAST6}])
def test_update_refuses_to_widen_the_servers_own_key(ident):
    policy = settings(own_key_id=OWN_ID, own_key_last6=OWN_LAST6)
    for change in (
        {"new_usd": None},
        {"new_usd": 51.0},
        {"new_model_privacy": "ALL"},
        {"new_limit_period": "EPOCH"},
    ):
        with pytest.raises(PolicyRefusal) as info:
            update(policy, **ident, current=CURRENT, **change)
        assert info.value.setting == "VENICE_ADMIN_KEY" and "never widen" in str(info.value)


def test_update_lets_the_servers_own_key_be_narrowed():
    policy = settings(own_key_id=OWN_ID, own_key_last6=OWN_LAST6)
    update(
        policy, key_id=OWN_ID, current=CURRENT, new_usd=10.0, new_diem=5.0, new_model_privacy="PRIVATE_ONLY"
    )
    update(policy, key_id=OWN_ID, current=CURRENT)  # a description-only change


def test_update_refuses_any_expiry_change_on_the_servers_own_key():
    policy = settings(own_key_id=OWN_ID)
    for when in (None, NOW + timedelta(minutes=5), NOW + timedelta(days=365)):
        with pytest.raises(PolicyRefusal) as info:
            update(policy, key_id=OWN_ID, current=CURRENT, new_expires_at=when)
        assert "lock it out" in str(info.value)


def test_update_of_own_key_without_current_values_is_refused():
    with pytest.raises(PolicyRefusal, match="unknown"):
        update(settings(own_key_id=OWN_ID), key_id=OWN_ID, new_usd=1.0)


def test_update_of_other_keys_may_widen():
    policy = settings(own_key_id=OWN_ID, own_key_last6=OWN_LAST6)
    update(policy, current=CURRENT, new_usd=None, new_model_privacy="ALL", new_expires_at=None)


# -- revoke ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ident", [{"key_id": OWN_ID, "key_last6": "zzzzzz"}, {"key_id": "k", "key_last6": OWN_LAST6}]
)
def test_revoke_refuses_the_servers_own_key(ident):
    with pytest.raises(PolicyRefusal) as info:
        check_revoke(settings(own_key_id=OWN_ID, own_key_last6=OWN_LAST6), **ident)
    assert info.value.setting == "VENICE_ADMIN_KEY"
    assert "lock the server out" in str(info.value)


def test_revoke_allows_other_keys():
    check_revoke(settings(own_key_id=OWN_ID, own_key_last6=OWN_LAST6), key_id="k-2", key_last6="qwerty")
    check_revoke(settings(), key_id="k-2", key_last6=None)


def test_revoke_is_not_fooled_by_a_missing_last6():
    check_revoke(settings(own_key_last6=None, own_key_id=None), key_id="k", key_last6=None)


# -- describe_widening -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ({"usd_limit": 10.0}, {"usd_limit": None}, ["removes the USD cap (was $10)"]),
        ({"usd_limit": 10.0}, {"usd_limit": 12.5}, ["raises the USD cap from $10 to $12.5"]),
        ({"usd_limit": 10.0}, {"usd_limit": 5.0}, []),
        ({"usd_limit": None}, {"usd_limit": 5.0}, []),
        ({"usd_limit": None}, {"usd_limit": None}, []),
        ({"diem_limit": 1.0}, {"diem_limit": None}, ["removes the DIEM cap (was 1 DIEM)"]),
        ({"diem_limit": 1.0}, {"diem_limit": 2}, ["raises the DIEM cap from 1 DIEM to 2 DIEM"]),
    ],
)
def test_describe_widening_caps(before, after, expected):
    assert describe_widening(before, after) == expected


def test_describe_widening_expiry():
    soon, later = datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)
    assert describe_widening({"expires_at": soon}, {"expires_at": None}) == [
        "removes the expiry (was 2026-05-01 00:00 UTC)"
    ]
    assert describe_widening({"expires_at": soon}, {"expires_at": later}) == [
        "extends the expiry from 2026-05-01 00:00 UTC to 2026-06-01 00:00 UTC"
    ]
    assert describe_widening({"expires_at": later}, {"expires_at": soon}) == []
    assert describe_widening({"expires_at": None}, {"expires_at": soon}) == []


def test_describe_widening_reads_venice_expiry_strings():
    assert describe_widening({"expires_at": "2026-05-01T00:00:00.000Z"}, {"expires_at": "2026-05-02"}) == [
        "extends the expiry from 2026-05-01 00:00 UTC to 2026-05-02 00:00 UTC"
    ]
    assert describe_widening({"expires_at": "2026-05-01"}, {"expires_at": ""}) == [
        "removes the expiry (was 2026-05-01 00:00 UTC)"
    ]


@pytest.mark.parametrize(
    ("before", "after", "widens"),
    [
        ("PRIVATE_ONLY", "PRIVATE_TEXT", True),
        ("PRIVATE_TEXT", "ALL", True),
        ("PRIVATE_ONLY", "ALL", True),
        ("ALL", "PRIVATE_ONLY", False),
        ("PRIVATE_TEXT", "PRIVATE_TEXT", False),
        ("PRIVATE_ONLY", "SOMETHING_NEW", True),
    ],
)
def test_describe_widening_model_privacy(before, after, widens):
    out = describe_widening({"model_privacy": before}, {"model_privacy": after})
    assert bool(out) is widens
    if widens:
        assert out == [f"widens model access from {before} to {after}"]


@pytest.mark.parametrize(
    ("before", "after", "widens"),
    [
        ("LIFETIME", "EPOCH", True),
        ("LIFETIME", "MONTH", True),
        ("MONTH", "EPOCH", True),
        ("EPOCH", "MONTH", False),
        ("MONTH", "LIFETIME", False),
        ("EPOCH", "EPOCH", False),
    ],
)
def test_describe_widening_limit_period_resetting_more_often_widens(before, after, widens):
    out = describe_widening({"usd_limit": 10.0, "limit_period": before}, {"limit_period": after})
    assert bool(out) is widens


def test_describe_widening_limit_period_sentence_says_what_it_means():
    assert describe_widening({"usd_limit": 10.0, "limit_period": "LIFETIME"}, {"limit_period": "EPOCH"}) == [
        "widens the limit period from LIFETIME to EPOCH: the cap resets daily"
    ]


def test_describe_widening_ignores_the_period_of_a_key_without_caps():
    assert (
        describe_widening(
            {"usd_limit": None, "diem_limit": None, "limit_period": "LIFETIME"}, {"limit_period": "EPOCH"}
        )
        == []
    )
    # ... unless the same change adds a cap.
    assert describe_widening(
        {"usd_limit": None, "diem_limit": None, "limit_period": "LIFETIME"},
        {"usd_limit": 5.0, "limit_period": "EPOCH"},
    )


def test_describe_widening_skips_unset_fields_and_empty_changes():
    assert describe_widening(CURRENT, {}) == []


def test_describe_widening_treats_unknown_current_values_as_narrowest():
    out = describe_widening(
        {}, {"usd_limit": None, "diem_limit": 5.0, "expires_at": None, "model_privacy": "ALL"}
    )
    assert out == [
        "removes the USD cap",
        "sets the DIEM cap to 5 DIEM (the current cap is unknown)",
        "removes the expiry",
        "sets model access to ALL (the current setting is unknown)",
    ]
    assert describe_widening({}, {"model_privacy": "PRIVATE_ONLY"}) == []


def test_describe_widening_lists_every_widening_change():
    out = describe_widening(
        CURRENT, {"usd_limit": None, "expires_at": None, "model_privacy": "ALL", "limit_period": "EPOCH"}
    )
    assert out == [
        "removes the USD cap (was $50)",
        "widens model access from PRIVATE_TEXT to ALL",
    ]  # no expiry before; no cap left for the period to apply to
