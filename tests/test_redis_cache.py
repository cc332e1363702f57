"""The Redis cache keeps one client per connection pool: the same object for every call, the pool's connections."""

import pytest
import redis

from geoloc_platform.cache import RedisCache


def test_every_cache_call_gets_the_same_client_on_the_same_pool():
    cache = RedisCache("redis://127.0.0.1:6399/15", {})  # nothing connects until a command is sent
    client = cache._cache.get_client("a", write=True)
    assert cache._cache.get_client("b") is client  # one server: reads and writes share the pool
    assert isinstance(client, redis.Redis) and client.connection_pool is cache._cache._get_connection_pool(True)


def test_the_cache_round_trips_values_when_redis_answers():
    cache = RedisCache("redis://127.0.0.1:6379/15", {})
    try:
        cache.set("geoloc-cache-test", {"n": 1}, 5)
    except redis.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    assert cache.get("geoloc-cache-test") == {"n": 1}
    cache.delete("geoloc-cache-test")
