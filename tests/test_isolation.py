"""The suite never writes into the user's real Marquee home."""

from pathlib import Path

from marquee import config


def test_default_home_is_temporary_during_tests(marquee_home):
    user_cache = Path.home() / ".cache" / "marquee"
    assert config.home(None).resolve() != user_cache.resolve()
    assert not config.home(None).resolve().is_relative_to(user_cache.resolve())
    assert not marquee_home.resolve().is_relative_to(user_cache.resolve())
