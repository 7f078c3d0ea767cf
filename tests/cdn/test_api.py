"""The CDN subpackage stands alone: it imports nothing of ranking, serving, the simulated world or playback."""

import subprocess
import sys

from marquee import cdn


def test_cdn_imports_no_other_part():
    code = ("import sys, marquee.cdn; print(sorted(m for m in sys.modules if m.startswith(('marquee.rank', "
            "'marquee.serve', 'marquee.sim', 'marquee.playback', 'marquee.cli'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_registry_and_exports():
    assert set(cdn.POLICIES) == {"fifo", "lru", "lfu", "arc", "s3fifo", "sieve", "wtinylfu", "gdsf", "belady",
                                 "beladysize"}
    assert set(cdn.ADMISSIONS) == {"none", "bloom"}
    for name in cdn.__all__:
        assert hasattr(cdn, name), name
    policy, admission = cdn.make("lru+bloom")
    assert (policy.name, admission.name) == ("lru", "bloom")
