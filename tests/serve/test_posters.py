"""SVG posters from a variant's attributes: valid, small, offline, deterministic, visibly different per attribute."""

import colorsys
import itertools
import re
import xml.etree.ElementTree as ET

import pytest

from marquee.data.artwork import ATTRIBUTES
from marquee.serve.posters import POSTER_MEDIA_TYPE, poster_svg

NS = "{http://www.w3.org/2000/svg}"
LONG = "Dr. Strangelove or: How I Learned to Stop Worrying and Love the Bomb, and Other Stories of the Cold War"
TRICKY = [
    ("Toy Story", 1995, ("Animation", "Children's", "Comedy")),
    ("Amélie", 2001, ("Romance",)),
    ("Tom & Jerry <\"The 'Movie'\"> ]]> &amp;", None, ("Film & TV <b>",)),
    (LONG, 1964, ("Comedy", "War")),
    ("", None, ()),
    ("Se7en\x00\x1f\ufffe\ttab\nline", 1995, ()),
    ("Pneumonoultramicroscopicsilicovolcanoconiosis", 2020, ("Documentary",)),
    ("千と千尋の神隠し 🐉", 2001, ("Animation",)),
]
COMBOS = list(itertools.product(*ATTRIBUTES.values()))


def shown(title: str) -> str:
    """``title`` as a poster shows it: without the characters XML cannot carry, whitespace runs one space."""
    return " ".join(title.replace("\x00", "").replace("\x1f", "").replace("\ufffe", "").split())


def attrs(palette: str = "warm", subject: str = "lead", text: str = "title") -> dict[str, str]:
    return {"palette": palette, "subject": subject, "text": text}


def texts(svg: str) -> list[str]:
    """The text drawn on the poster (the ``<title>`` element aside), one string per ``<text>``."""
    return ["".join(t.itertext()) for t in ET.fromstring(svg).iter(f"{NS}text")]


def stops(svg: str) -> list[tuple[float, float, float]]:
    """(hue in degrees, lightness, saturation) of the background gradient's stops, top first."""
    out = []
    for stop in ET.fromstring(svg).iter(f"{NS}stop"):
        r, g, b = (int(stop.get("stop-color")[i : i + 2], 16) / 255 for i in (1, 3, 5))
        h, light, sat = colorsys.rgb_to_hls(r, g, b)
        out.append((h * 360, light, sat))
    return out


def heads(svg: str) -> int:
    """How many silhouette heads (two half-circle arcs each) the poster draws."""
    return sum(len(re.findall(r"a(\d+) \1 0 1 0", p.get("d", ""))) for p in ET.fromstring(svg).iter(f"{NS}path")) // 2


@pytest.mark.parametrize(("title", "year", "genres"), TRICKY)
def test_every_combination_is_a_valid_poster(title, year, genres):
    for seed, (palette, subject, text) in enumerate(COMBOS):
        svg = poster_svg(title, attrs(palette, subject, text), year=year, genres=genres, seed=seed)
        assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" ')
        root = ET.fromstring(svg)
        assert root.tag == f"{NS}svg"
        assert root.get("viewBox") == "0 0 200 300"
        assert root[0].tag == f"{NS}title"
        assert root.find(f"{NS}title").text == (shown(title) or None)
        assert len(svg.encode()) < 1600, (title, palette, subject, text, len(svg.encode()))


def test_characters_xml_cannot_carry_are_dropped():
    svg = poster_svg(TRICKY[5][0], attrs(subject="ensemble"))
    assert shown(TRICKY[5][0]) == "Se7en tab line"
    assert texts(svg) == ["Se7en tab line"]


def test_escaping_round_trips_the_title_and_tagline():
    title, _, genres = TRICKY[2]
    svg = poster_svg(title, attrs(subject="scene", text="tagline"), genres=genres)
    assert "<b>" not in svg and "]]>" not in svg
    assert ET.fromstring(svg).find(f"{NS}title").text == title
    drawn = texts(svg)
    assert " ".join(drawn[:-1]) == title
    assert drawn[-1] == "Film & TV <b>"


def test_typical_posters_are_small():
    sizes = [len(poster_svg(t, attrs(*c), year=y, genres=g, seed=7).encode()) for t, y, g in TRICKY[:2] for c in COMBOS]
    assert max(sizes) < 1600
    assert sum(sizes) / len(sizes) < 1200  # ~80 on a page stay well under 300 kB


def test_deterministic_and_seed_varies_it():
    one = poster_svg("Heat", attrs("cool", "ensemble", "tagline"), year=1995, genres=["Crime"], seed=6)
    assert one == poster_svg("Heat", attrs("cool", "ensemble", "tagline"), year=1995, genres=["Crime"], seed=6)
    others = {
        poster_svg("Heat", attrs("cool", "ensemble", "tagline"), year=1995, genres=["Crime"], seed=s)
        for s in range(1, 6)
    }
    assert one not in others and len(others) == 5
    big = 2**255 + 12345  # id_seed of a text id is a 256-bit integer
    assert poster_svg("Heat", attrs(), seed=big) == poster_svg("Heat", attrs(), seed=big)


@pytest.mark.parametrize("seed", range(12))
def test_palettes_have_their_colours(seed):
    def colours(palette):
        return stops(poster_svg("Heat", attrs(palette, "scene", "none"), seed=seed))

    (top, bottom) = colours("warm")
    assert all(h <= 50 or h >= 345 for h, _, _ in (top, bottom)) and top[2] > 0.5  # oranges and reds
    (top, bottom) = colours("cool")
    assert all(160 <= h <= 250 for h, _, _ in (top, bottom))  # teals and blues
    (top, bottom) = colours("dark")
    assert top[1] < 0.25 and bottom[1] < 0.15  # near black
    (top, bottom) = colours("bright")
    assert all(sat > 0.9 and light > 0.5 for _, light, sat in (top, bottom))  # saturated and light
    svgs = [poster_svg("Heat", attrs(p, "scene", "none"), seed=seed) for p in ATTRIBUTES["palette"]]
    assert len({tuple(stops(s)) for s in svgs}) == len(svgs)


def test_dark_has_a_single_accent():
    svg = poster_svg("Heat", attrs("dark", "lead", "title"), seed=3)
    colours = set(re.findall(r"#[0-9a-f]{6}\b", svg))
    light = {c for c in colours if colorsys.rgb_to_hls(*(int(c[i : i + 2], 16) / 255 for i in (1, 3, 5)))[1] > 0.3}
    assert len(light) == 1


@pytest.mark.parametrize("seed", range(6))
def test_subjects_draw_their_compositions(seed):
    def draw(subject, text="none"):
        return poster_svg("The Third Man", attrs("cool", subject, text), seed=seed)

    assert heads(draw("lead")) == 1
    assert heads(draw("ensemble")) in (3, 4)
    scene = ET.fromstring(draw("scene"))
    assert heads(draw("scene")) == 0 and len(list(scene.iter(f"{NS}circle"))) == 1  # the sun or moon
    card = draw("title_card", "title")
    assert heads(card) == 0
    assert " ".join(texts(card)) == "THE THIRD MAN"
    assert int(ET.fromstring(card).find(f"{NS}g").find(f"{NS}text").get("font-size")) >= 20  # big type
    assert len({draw(s) for s in ATTRIBUTES["subject"]}) == len(ATTRIBUTES["subject"])


def test_text_none_draws_no_text():
    for palette, subject in itertools.product(ATTRIBUTES["palette"], ATTRIBUTES["subject"]):
        svg = poster_svg("Casablanca", attrs(palette, subject, "none"), year=1942, genres=["Drama"])
        assert texts(svg) == []
        assert svg.count("Casablanca") == 1 and svg.count("CASABLANCA") == 0  # only in <title>
        assert "1942" not in svg and "Drama" not in svg


def test_title_and_tagline():
    title = poster_svg("Toy Story", attrs("warm", "lead", "title"), year=1995, genres=["Comedy"])
    assert texts(title) == ["Toy Story"]
    tagline = poster_svg("Toy Story", attrs("warm", "lead", "tagline"), year=1995, genres=["Comedy"])
    assert texts(tagline) == ["Toy Story", "Comedy · 1995"]
    two = poster_svg("Toy Story", attrs(text="tagline"), year=1995, genres=["Animation", "Comedy", "Children's"])
    assert texts(two)[-1] == "Animation · Comedy · 1995"
    assert texts(poster_svg("Toy Story", attrs(text="tagline"))) == ["Toy Story"]  # no year, no genres: no second line
    assert texts(poster_svg("Toy Story", attrs(text="tagline"), genres=["Comedy"])) == ["Toy Story", "Comedy"]


def test_long_titles_wrap_to_three_lines_with_an_ellipsis():
    for subject in ATTRIBUTES["subject"]:
        lines = texts(poster_svg(LONG, attrs("dark", subject, "title")))
        assert len(lines) == 3 and lines[-1].endswith("…")
        assert all(len(line) <= 20 for line in lines)
        assert " ".join(lines).replace("…", "").upper().startswith(" ".join(lines[:2]).upper())
    word = texts(poster_svg("Supercalifragilisticexpialidocious", attrs(subject="scene")))
    assert len(word) == 2 and "".join(word) == "Supercalifragilisticexpialidocious"  # a long word is split, not lost
    longer = texts(poster_svg(TRICKY[6][0], attrs(subject="title_card")))
    assert len(longer) == 3 and longer[-1].endswith("…") and TRICKY[6][0].upper().startswith("".join(longer)[:-1])
    short = texts(poster_svg("Up", attrs("warm", "scene", "title")))
    assert short == ["Up"]


def test_unknown_and_missing_attribute_values_still_draw():
    odd = [
        {"palette": "sepia", "subject": "poster_wall", "text": "logo"},
        {"palette": 3, "subject": None, "text": 0.5},
        {"palette": ["warm"], "subject": ("lead",)},
        {},
        {"palette": "warm", "subject": "lead", "text": "title", "crop": "tight", "face_count": 2},
    ]
    for attributes in odd:
        svg = poster_svg("Amélie", attributes, year=2001, genres=["Romance"], seed=5)
        ET.fromstring(svg)
        assert svg == poster_svg("Amélie", dict(attributes), year=2001, genres=["Romance"], seed=5)
        assert len(svg.encode()) < 1600
    known = {poster_svg("Amélie", attrs(p, "scene", "none"), seed=5) for p in ATTRIBUTES["palette"]}
    sepia = poster_svg("Amélie", attrs("sepia", "scene", "none"), seed=5)
    assert sepia not in known
    assert stops(sepia) != stops(poster_svg("Amélie", attrs("mauve", "scene", "none"), seed=5))


def test_extra_attributes_vary_the_drawing_not_its_kind():
    plain = poster_svg("Heat", attrs("warm", "ensemble", "none"))
    tight = poster_svg("Heat", {**attrs("warm", "ensemble", "none"), "crop": "tight"})
    assert plain != tight and 3 <= heads(tight) <= 4
    assert stops(tight)[0][0] <= 50


def test_no_external_references():
    for title, year, genres in TRICKY:
        for c in COMBOS:
            svg = poster_svg(title, attrs(*c), year=year, genres=genres)
            assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")
            for el in ET.fromstring(svg).iter():
                assert not any(k.endswith("href") for k in el.attrib)
                assert all(not v.startswith("url(") or v.startswith("url(#") for v in el.attrib.values())
                assert el.get("font-family") in (None, "sans-serif")
            assert "@import" not in svg and "<image" not in svg and "<style" not in svg


def test_gradient_ids_are_referenced_and_differ_between_palettes():
    ids = set()
    for palette in ATTRIBUTES["palette"]:
        root = ET.fromstring(poster_svg("Heat", attrs(palette, "lead", "none")))
        (gradient,) = root.iter(f"{NS}linearGradient")
        assert root.find(f"{NS}rect").get("fill") == f"url(#{gradient.get('id')})"
        ids.add(gradient.get("id"))
    assert len(ids) == len(ATTRIBUTES["palette"])  # posters inlined side by side don't share a gradient


def test_genres_as_one_str_is_refused():
    with pytest.raises(TypeError, match=r"genres: expected a sequence of genre names .* 'Comedy\|Drama'; split it"):
        poster_svg("Heat", attrs(text="tagline"), genres="Comedy|Drama")


def test_media_type():
    assert POSTER_MEDIA_TYPE == "image/svg+xml"
