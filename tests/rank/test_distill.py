"""Distillation: the student reproduces its teacher's rankings."""

import numpy as np
import pytest

from marquee.errors import ConfigError
from marquee.rank import EASE, Recommender
from marquee.rank.distill import Distilled
from marquee.testing import block_interactions


def test_student_reproduces_teacher_top_titles(tmp_path):
    data = block_interactions(n_members=80)
    teacher = EASE(l2=5.0).fit(data)
    student = Distilled(factors=16, steps=300).fit(data, teacher=teacher)
    t = teacher.recommend(data.members.ids, k=5).title_ids
    s = student.recommend(data.members.ids, k=5).title_ids
    overlap = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(t.tolist(), s.tolist(), strict=True)])
    assert overlap >= 0.8, f"top-5 overlap with the teacher {overlap:.2f}"
    student.save(tmp_path / "s")
    np.testing.assert_allclose(Recommender.load(tmp_path / "s").score([1000]), student.score([1000]), rtol=1e-6)


def test_student_needs_a_fitted_teacher():
    data = block_interactions()
    with pytest.raises(ConfigError, match="learns from a teacher"):
        Distilled().fit(data)
    with pytest.raises(ConfigError, match="learns from a teacher"):
        Distilled().fit(data, teacher=EASE())
