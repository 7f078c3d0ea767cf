import numpy as np

from marquee.sim.context import DAYPARTS, DEVICES, HOUR_PROFILES, context_shift, daypart_of, title_attributes


def test_title_attributes_follow_genres_deterministically():
    ids = np.array([1, 2, 3])
    genres = [["Children's", "Animation"], ["War", "Drama"], []]
    runtime, kids = title_attributes(ids, genres)
    again, _ = title_attributes(ids, genres)
    np.testing.assert_array_equal(runtime, again)
    assert runtime[0] < 100 < runtime[1]  # kids' films are short, war dramas long (jitter is at most 15 min)
    np.testing.assert_array_equal(kids, [1.0, 0.0, 0.0])
    assert 85 <= runtime[2] <= 115


def test_dayparts_and_profiles():
    np.testing.assert_array_equal(daypart_of(np.array([0, 5, 6, 11, 12, 17, 18, 23])), [0, 0, 1, 1, 2, 2, 3, 3])
    assert HOUR_PROFILES.shape == (len(DEVICES), 24)
    np.testing.assert_allclose(HOUR_PROFILES.sum(axis=1), 1.0)
    assert HOUR_PROFILES[DEVICES.index("tv")][18:].sum() > 0.5  # TV is an evening screen


def test_context_shift_favours_kids_on_tablet_mornings_and_long_films_on_tv_evenings():
    runtime = np.array([80.0, 150.0, 110.0])
    kids = np.array([1.0, 0.0, 0.0])
    shift = context_shift(runtime, kids)
    cell = {(d, p): DEVICES.index(d) * len(DAYPARTS) + DAYPARTS.index(p) for d in DEVICES for p in DAYPARTS}
    tablet_morning, tv_evening = shift[cell["tablet", "morning"]], shift[cell["tv", "evening"]]
    assert tablet_morning[0] - tablet_morning[1] > 1.0
    assert tv_evening[1] - tv_evening[0] > 1.0
    np.testing.assert_array_equal(context_shift(runtime, kids, 0.0), 0.0)
