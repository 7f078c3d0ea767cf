"""TRAGEN-style generation: the stream reproduces the model's sizes, request counts and LRU hit-ratio curve.

Figures measured on 200k requests (seed 0; seeds 0-3 in brackets) when these bounds were set: object-size KS 0.002;
requests-per-object KS 0.059 against :func:`tragen.request_counts` (0.29 with ``window=1``); LRU hit ratio after a
100k-request warm-up against the descriptors' prediction at 1, 4, 16, 64 GB: byte ratio within 0.024 [0.024],
request ratio within 0.008 [0.008].
"""

import tarfile

import numpy as np
import pytest

from marquee import cdn
from marquee.cdn import tragen
from marquee.errors import ConfigError, DataError

N = 200_000
WARMUP = 100_000
SIZES_GB = (1, 4, 16, 64)


@pytest.fixture(scope="module")
def model():
    return tragen.read_tragen_model()


@pytest.fixture(scope="module")
def stream(model):
    return tragen.generate(model, N, seed=0)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("tragen_model")
    with tarfile.open(cdn.shipped_path("tragen_akamai_video")) as tar:
        tar.extractall(out, filter="data")
    return out / "tragen_akamai_video"


def _ks_discrete(sample: np.ndarray, values: np.ndarray, shares: np.ndarray) -> float:
    """Largest gap between the sample's CDF and the model's over every value either takes."""
    grid = np.unique(np.concatenate([values, np.unique(sample)]))
    emp = np.searchsorted(np.sort(sample), grid, side="right") / sample.size
    idx = np.searchsorted(values, grid, side="right") - 1
    mod = np.where(idx >= 0, np.cumsum(shares)[np.maximum(idx, 0)], 0.0)
    return float(np.abs(emp - mod).max())


def test_shipped_model_is_read_in_bytes_and_seconds(model):
    assert (model.fd.requests, model.fd.miss_requests) == (981112, 389025)
    assert model.fd.total_bytes == 800194518 * 1000  # KB of 1000 bytes
    assert model.duration_s == 153747 - 2907
    assert model.fd.sd_bin_bytes == 200_000_000  # TRAGEN's 200 MB bins
    assert model.max_stack_distance == 105_200_000_000 + 200_000_000
    assert model.sizes[0] == 1000 and model.sizes.dtype == np.int64
    for shares in (model.size_shares, model.popularity_shares, model.sample_size_shares):
        assert shares.sum() == pytest.approx(1.0)
    assert model.popularity[0] == 1
    assert model.byte_rate == pytest.approx(800194518e3 / 150840)
    # the predicted curve: 0 for no cache, rising, up to 1 - miss share once every distance fits
    curve = [model.hit_ratio(c) for c in (0, 1e9, 4e9, 16e9, 64e9, 1e12)]
    assert curve[0] == 0 and np.all(np.diff(curve) > 0)
    assert curve[-1] == pytest.approx(1 - model.bfd.miss_share)
    assert model.hit_ratio(1e12, "request") == pytest.approx(1 - 389025 / 981112)


def test_request_counts_keep_popularity_shape_and_match_miss_share(model):
    k, p = tragen.request_counts(model)
    assert float((k * p).sum()) == pytest.approx(1 / model.bfd.miss_share)
    # above one request the shape is popularity.txt's
    raw = model.popularity_shares
    assert np.allclose(p[1:] / p[1:].sum(), raw[1:] / raw[1:].sum())


def test_folder_and_archive_read_the_same(model, model_dir):
    again = tragen.read_tragen_model(model_dir)
    assert np.array_equal(again.bfd.weights, model.bfd.weights)
    assert np.array_equal(again.sizes, model.sizes)
    assert np.array_equal(again.popularity_shares, model.popularity_shares)


def test_object_sizes_follow_sz_txt(model, stream):
    # each object's size against sz.txt's distribution over objects
    assert _ks_discrete(stream.object_size, model.sizes, model.size_shares) < 0.01
    assert stream.n_resized == 0 and stream.sized


def test_requests_per_object_follow_the_model(model, stream):
    counts = np.bincount(stream.obj)
    k, p = tragen.request_counts(model)
    assert _ks_discrete(counts, k, p) < 0.1
    assert counts.max() > 500  # a heavy tail: popular objects are requested at short distances
    assert counts.mean() == pytest.approx(1 / model.bfd.miss_share, rel=0.15)


def test_without_the_window_heuristic_counts_are_not_the_model(model):
    counts = np.bincount(tragen.generate(model, N // 2, seed=0, window=1).obj)
    k, p = tragen.request_counts(model)
    assert _ks_discrete(counts, k, p) > 0.2
    assert counts.max() < 100


@pytest.mark.parametrize("gb", SIZES_GB)
def test_lru_hit_ratio_curve_is_the_footprint_descriptor(model, stream, gb):
    cache = gb * 10**9
    byte = tragen.measured_hit_ratio(stream, cache, warmup_requests=WARMUP)
    req = tragen.measured_hit_ratio(stream, cache, warmup_requests=WARMUP, weight="request")
    assert abs(byte - model.hit_ratio(cache)) < 0.03, (byte, model.hit_ratio(cache))
    assert abs(req - model.hit_ratio(cache, "request")) < 0.01, (req, model.hit_ratio(cache, "request"))


def test_measured_hit_ratio_is_cdn_run_after_warmup(stream):
    full = cdn.run(stream, "lru", 4 * 10**9)
    assert tragen.measured_hit_ratio(stream, 4 * 10**9) == pytest.approx(1 - full.byte_miss_ratio)
    assert tragen.measured_hit_ratio(stream, 4 * 10**9, weight="request") == pytest.approx(1 - full.miss_ratio)


def test_same_seed_same_stream(model, stream):
    again = tragen.generate(model, N, seed=0)
    for col in ("time", "obj", "size", "ids", "object_size"):
        assert np.array_equal(getattr(again, col), getattr(stream, col))
    assert again.ids.dtype == np.uint64
    other = tragen.generate(model, 1000, seed=1)
    assert not np.array_equal(other.ids[other.obj], stream.ids[stream.obj[:1000]])


def test_times_follow_the_model_rates(model, stream):
    assert stream.time[0] == 0 and np.all(np.diff(stream.time) >= 0)
    # the byte clock: the bytes before the last request, at the model's byte rate
    assert stream.time[-1] == pytest.approx((stream.total_bytes - stream.size[-1]) / model.byte_rate)
    poisson = tragen.generate(model, 20_000, seed=3, arrivals="poisson")
    assert np.diff(poisson.time).mean() == pytest.approx(1 / model.request_rate, rel=0.05)


def test_request_descriptor_and_sample_sizes(model):
    reqs = tragen.generate(model, 20_000, seed=2, hitrate="request", size_source="sample")
    assert len(reqs) == 20_000
    assert _ks_discrete(reqs.object_size, model.sample_sizes, model.sample_size_shares) < 0.03


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_requests": -1}, "n_requests"),
        ({"n_requests": 10, "hitrate": "bits"}, "hitrate"),
        ({"n_requests": 10, "window": 0}, "window"),
        ({"n_requests": 10, "arrivals": "often"}, "arrivals"),
        ({"n_requests": 10, "size_source": "big"}, "size_source"),
    ],
)
def test_bad_options(model, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        tragen.generate(model, **kwargs)


def _copy_model(src, dst, name, text):
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    (dst / name).write_text(text)
    return dst


def test_garbled_descriptor_names_file_line_and_field(model_dir, tmp_path):
    lines = (model_dir / "fd.txt").read_text().splitlines()
    lines[6] = lines[6].split()[0] + " 2OOOOO " + lines[6].split()[2]
    bad = _copy_model(model_dir, tmp_path / "m", "fd.txt", "\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"fd\.txt.*line 7.*sd_KB") as err:
        tragen.read_tragen_model(bad)
    assert err.value.row == 7 and err.value.column == "sd_KB"


def test_truncated_descriptor_is_caught(model_dir, tmp_path):
    text = (model_dir / "bfd.txt").read_text()
    cut = text[: len(text) // 2]  # ends mid-line, and most shares are gone
    bad = _copy_model(model_dir, tmp_path / "m", "bfd.txt", cut)
    with pytest.raises(DataError, match=r"bfd\.txt") as err:
        tragen.read_tragen_model(bad)
    assert err.value.row == cut.count("\n") + 1  # the half line


def test_bad_header_and_block_files(model_dir, tmp_path):
    bad = _copy_model(model_dir, tmp_path / "a", "fd.txt", "981112 800194518 2907 153747 389025\n0 0 0.5\n")
    with pytest.raises(DataError, match=r"fd\.txt.*line 1.*5 fields"):
        tragen.read_tragen_model(bad)
    bad = _copy_model(model_dir, tmp_path / "b", "popularity.txt", "1.0 0.5\n2\n3.0 0.5\n")
    with pytest.raises(DataError, match=r"popularity\.txt.*line 1") as err:
        tragen.read_tragen_model(bad)
    assert err.value.row == 1
    bad = _copy_model(model_dir, tmp_path / "c", "sz.txt", "-1\n10 0.5\n20 -0.5\n")
    with pytest.raises(DataError, match=r"sz\.txt.*line 3.*negative"):
        tragen.read_tragen_model(bad)


def test_missing_or_broken_model(model_dir, tmp_path):
    with pytest.raises(DataError, match="no such"):
        tragen.read_tragen_model(tmp_path / "nothing")
    part = tmp_path / "part"
    part.mkdir()
    (part / "fd.txt").write_bytes((model_dir / "fd.txt").read_bytes())
    with pytest.raises(DataError, match="bfd.txt"):
        tragen.read_tragen_model(part)
    junk = tmp_path / "junk.tar.xz"
    junk.write_bytes(b"\xfd7zXZ\x00 not really")
    with pytest.raises(DataError, match="junk.tar.xz"):
        tragen.read_tragen_model(junk)
