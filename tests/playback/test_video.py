"""Video ladders: the shipped Envivio and Sabre ladders, a user's CSV/JSON, and every validation."""

import json
import re

import numpy as np
import pytest

from marquee.errors import DataError
from marquee.playback import Video, load_video, read_csv_ladder, read_json_ladder, read_video


def test_envivio_is_pensieves_48_chunks_with_vmaf():
    v = load_video("envivio")
    np.testing.assert_array_equal(v.bitrates_kbps, [300, 750, 1200, 1850, 2850, 4300])
    assert (v.n_chunks, v.n_rungs, v.chunk_seconds) == (48, 6, 4.0)
    assert v.chunk_bytes.dtype == np.int64
    np.testing.assert_array_equal(v.chunk_bytes[0], [181801, 450283, 668286, 1034108, 1728879, 2354772])
    assert v.quality is not None and v.quality.shape == (48, 6)
    assert v.quality[0, 0] == pytest.approx(28.809932)


def test_sabre_ladders_bits_to_bytes():
    v = load_video("sabre_bbb")
    assert (v.n_chunks, v.n_rungs, v.chunk_seconds) == (199, 10, 3.0)
    assert v.chunk_bytes[0, 0] == 886360 // 8
    assert v.quality is None
    v4k = load_video("sabre_bbb4k")
    assert v4k.bitrates_kbps[-1] == 35000


def _csv(path, header, rows):
    path.write_text("\n".join([header] + rows) + "\n")
    return path


def test_user_csv_ladder(tmp_path):
    p = _csv(tmp_path / "mine.csv", "chunk_index,bytes_100kbps,bytes_200kbps", ["0,10,20", "1,11,21"])
    v = read_video(p, chunk_seconds=2.0)
    assert v.name == "mine"
    np.testing.assert_array_equal(v.chunk_bytes, [[10, 20], [11, 21]])
    assert v.chunk_seconds == 2.0


def test_csv_rung_with_fewer_chunks_names_file_and_rung(tmp_path):
    p = _csv(tmp_path / "short.csv", "chunk_index,bytes_100kbps,bytes_200kbps", ["0,10,20", "1,11,"])
    with pytest.raises(
        DataError, match=re.escape(f"{p}, column 'rung 1': rung 1 (200 kbps) has 1 chunks, other rungs have 2")
    ):
        read_csv_ladder(p)


def test_csv_bad_cells(tmp_path):
    p = _csv(tmp_path / "bad.csv", "chunk_index,bytes_100kbps,bytes_200kbps", ["0,10,20", "1,x,21"])
    with pytest.raises(DataError, match=re.escape(f"{p}, row 3, column 'bytes_100kbps': expected a number, got 'x'")):
        read_csv_ladder(p)
    p = _csv(tmp_path / "hdr.csv", "chunk_index,size_100", ["0,10"])
    with pytest.raises(DataError, match=re.escape("row 1, column 'size_100'")):
        read_csv_ladder(p)


def test_rungs_must_increase(tmp_path):
    p = _csv(tmp_path / "dec.csv", "chunk_index,bytes_200kbps,bytes_100kbps", ["0,10,20"])
    with pytest.raises(DataError, match=r"dec, column 'bitrates_kbps': rungs must be increasing: rung 1 \(100 kbps\)"):
        read_csv_ladder(p)


def test_sizes_must_be_positive():
    with pytest.raises(DataError, match=r"v, column 'chunk_bytes': chunk sizes must be positive: chunk 1 at rung 0"):
        Video("v", [100, 200], 4.0, [[1, 2], [0, 3]])


def test_json_per_rung_layout_and_unequal_counts(tmp_path):
    p = tmp_path / "l.json"
    p.write_text(
        json.dumps(
            {
                "bitrates_kbps": [100, 200],
                "chunk_seconds": 2,
                "chunk_bytes": [[1, 2], [3, 4]],
                "quality": [[10, 11], [20, 21]],
            }
        )
    )
    v = read_json_ladder(p)
    np.testing.assert_array_equal(v.chunk_bytes, [[1, 3], [2, 4]])
    np.testing.assert_array_equal(v.quality, [[10, 20], [11, 21]])
    p.write_text(json.dumps({"bitrates_kbps": [100, 200], "chunk_seconds": 2, "chunk_bytes": [[1, 2], [3]]}))
    with pytest.raises(DataError, match=re.escape(f"{p}, column 'rung 1': rung 1 (200 kbps) has 1 chunks")):
        read_json_ladder(p)


def test_sabre_json_segment_with_missing_rung(tmp_path):
    p = tmp_path / "s.json"
    p.write_text(
        json.dumps({"segment_duration_ms": 3000, "bitrates_kbps": [100, 200], "segment_sizes_bits": [[8, 16], [8]]})
    )
    with pytest.raises(
        DataError, match=re.escape(f"{p}, row 2, column 'segment_sizes_bits': segment 1 has 1 sizes, expected 2")
    ):
        read_json_ladder(p)


def test_envivio_csv_by_path_has_all_49(tmp_path):
    from importlib import resources

    with resources.as_file(resources.files("marquee.playback") / "data" / "envivio_dash3_chunk_sizes.csv") as p:
        assert load_video(p).n_chunks == 49
