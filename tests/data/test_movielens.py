"""MovieLens-100K: both sources parse to the same dataset; the real fetch is checked end to end."""

import io
import zipfile

import numpy as np
import pytest

from marquee.data import leave_one_out
from marquee.data import movielens as ml
from marquee.errors import DataError

RATINGS = [(196, 242, 3, 881250949), (186, 302, 3, 891717742), (196, 302, 5, 881250949)]
ITEMS = [(242, "Kolya (1996)", "24-Jan-1997", 1996, ["Comedy"]), (302, "L.A. Confidential (1997)", "01-Jan-1997", 1997, ["Crime", "Film-Noir"])]
USERS = [(186, 39, "F", "executive", "00000"), (196, 49, "M", "writer", "55105")]


def _grouplens_zip():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("ml-100k/u.data", "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in RATINGS))
        lines = []
        for i, name, date, _, genres in ITEMS:
            flags = "|".join("1" if g in genres else "0" for g in ml.GENRES)
            lines.append(f"{i}|{name}|{date}||http://x|{flags}\n")
        zf.writestr("ml-100k/u.item", "".join(lines).encode("latin-1"))
        zf.writestr("ml-100k/u.user", "".join(f"{u}|{a}|{g}|{o}|{z}\n" for u, a, g, o, z in USERS))
    return buf.getvalue()


def _recbole_files():
    return {
        "ml-100k.inter": ("user_id:token\titem_id:token\trating:float\ttimestamp:float\n" + "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in RATINGS)).encode(),
        "ml-100k.item": ("item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n" + "".join(f"{i}\t{n.rsplit(' (', 1)[0]}\t{y}\t{' '.join(g)}\n" for i, n, _, y, g in ITEMS)).encode(),
        "ml-100k.user": ("user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n" + "".join(f"{u}\t{a}\t{g}\t{o}\t{z}\n" for u, a, g, o, z in USERS)).encode(),
    }


def test_both_sources_give_the_same_interactions_and_catalog():
    a = ml.parse_grouplens_zip(_grouplens_zip())
    b = ml.parse_recbole_files(_recbole_files())
    assert a.interactions.fingerprint() == b.interactions.fingerprint()
    assert len(a.interactions) == 3 and a.interactions.n_members == 2
    assert a.catalog.table.column("year").to_pylist() == b.catalog.table.column("year").to_pylist() == [1996, 1997]
    assert a.catalog.table.column("genres").to_pylist() == [["Comedy"], ["Crime", "Film-Noir"]]
    assert a.interactions.table.column("rating").to_pylist() == b.interactions.table.column("rating").to_pylist()


def test_truncated_file_names_the_line():
    files = _recbole_files()
    files["ml-100k.inter"] += b"7\t8\n"
    with pytest.raises(DataError, match=r"ml-100k.inter, row 5"):
        ml.parse_recbole_files(files)


@pytest.mark.realdata
def test_real_movielens_100k(ml100k):
    inter = ml100k.interactions
    assert (len(inter), inter.n_members, inter.n_titles) == (100_000, 943, 1682)
    # The issue's own count: 415 of 943 members have their last two interactions in one second.
    ts, ptr = inter.timestamps, inter.member_indptr
    assert int(np.sum(ts[ptr[1:] - 1] == ts[ptr[1:] - 2])) == 415
    split = leave_one_out(inter)
    assert len(split.test) == len(split.validation) == 943
    assert len(split.train) == 100_000 - 2 * 943
    assert ml100k.info["credit"].startswith("MovieLens-100K, GroupLens Research")
