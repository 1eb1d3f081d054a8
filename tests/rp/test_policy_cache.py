"""The policy cache on real Redis (django-redis), shared by every process."""

from __future__ import annotations

import pytest
from django.core.cache import caches

from logout_sso.internal.policies import CACHE_KEY, get_policy


@pytest.fixture
def redis_cache(settings, redis_client, redis_url):
    settings.CACHES = {
        **settings.CACHES,
        "shared": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": redis_url},
    }
    settings.LOGOUT_SSO = {"CACHE_ALIAS": "shared"}
    yield caches["shared"]
    caches["shared"].clear()


def cached_keys(redis_client):
    return {key.decode() for key in redis_client.keys("*logout_sso:policy:*")}


@pytest.mark.django_db
def test_policy_is_read_once_then_served_from_redis(
    redis_cache, redis_client, make_organization, django_assert_num_queries
):
    organization = make_organization("acme")

    with django_assert_num_queries(1):
        first = get_policy(organization.pk)
    with django_assert_num_queries(0):
        again = get_policy(organization.pk)

    assert first == again
    assert first.session_ttl == 600
    assert cached_keys(redis_client) == {f":1:{CACHE_KEY.format(organization_id=organization.pk)}"}


@pytest.mark.django_db
def test_saving_the_policy_removes_it_from_redis(redis_cache, redis_client, make_organization):
    organization = make_organization("acme")
    get_policy(organization.pk)
    policy = organization.logout_policy

    policy.session_ttl = 300
    policy.save()

    assert cached_keys(redis_client) == set()
    assert get_policy(organization.pk).session_ttl == 300


@pytest.mark.django_db
def test_changing_the_organization_is_seen_through_redis(redis_cache, make_organization):
    organization = make_organization("acme", connection="acme-saml")
    assert get_policy(organization.pk).auto_forward is False

    organization.auto_forward = True
    organization.save()

    assert get_policy(organization.pk).auto_forward is True
