"""Ray Data batch scoring against a local Ray (started once for this module)."""

import pytest

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'marquee[ray]' (make test installs it)")

from marquee.errors import ConfigError
from marquee.scale import batch_score
from tests.scale.test_batch import registry  # noqa: F401 - the fixture


def test_ray_data_gives_the_serial_table(registry):  # noqa: F811
    serial = batch_score(registry, "ease", 5, engine="serial", block=7)
    on_ray = batch_score(registry, "ease", 5, engine="ray", workers=2, block=7, passes=2)
    assert on_ray.table.equals(serial.table)
    assert on_ray.provenance["engine"] == "ray" and on_ray.members_per_s > 0


def test_an_unreachable_cluster_is_one_line(registry):  # noqa: F811
    with pytest.raises(ConfigError, match="could not reach the Ray cluster at 127.0.0.1:1") as e:
        batch_score(registry, "ease", 5, engine="ray", ray_address="127.0.0.1:1")
    assert "\n" not in str(e.value)
