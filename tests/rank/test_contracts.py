"""Every ranker honours the contract (marquee.testing.RecommenderContract)."""

from marquee.rank import ALS, BPR, EASE, ItemKNN, MostPopular, SASRec
from marquee.testing import RecommenderContract


class TestMostPopular(RecommenderContract):
    personalized = False

    def make(self):
        return MostPopular()


class TestMostPopularDecayed(RecommenderContract):
    personalized = False

    def make(self):
        return MostPopular(half_life_days=1.0)


class TestItemKNN(RecommenderContract):
    def make(self):
        return ItemKNN(neighbors=10)


class TestEASE(RecommenderContract):
    def make(self):
        return EASE(l2=5.0)


class TestALS(RecommenderContract):
    def make(self):
        return ALS(factors=8, iterations=10, regularization=0.01)


class TestBPR(RecommenderContract):
    # implicit's BPR runs Hogwild SGD across threads: not bit-reproducible.
    deterministic = False

    def make(self):
        return BPR(factors=8, iterations=60, learning_rate=0.05)


class TestSASRec(RecommenderContract):
    def make(self):
        return SASRec(max_len=8, hidden=16, epochs=30, batch_size=16, weight_decay=0.0, learning_rate=5e-3)
