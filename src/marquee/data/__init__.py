"""Data: value types (catalog, members, interaction log, logged bandit feedback, artwork variants and their decision log), datasets on disk, fetchers, importers, splits."""

from marquee.data.artwork import ArtworkVariants, generate_variants
from marquee.data.artwork_log import ArtworkLog
from marquee.data.catalog import Catalog, Members
from marquee.data.dataset import Dataset, dataset_dir, open_dataset
from marquee.data.feedback import LoggedFeedback
from marquee.data.ids import IdIndex
from marquee.data.interactions import INTERACTION_SCHEMA, Interactions, tie_keys
from marquee.data.split import Holdout, Split, global_temporal, leave_one_out

__all__ = [
    "INTERACTION_SCHEMA",
    "ArtworkLog",
    "ArtworkVariants",
    "Catalog",
    "Dataset",
    "Holdout",
    "IdIndex",
    "Interactions",
    "LoggedFeedback",
    "Members",
    "Split",
    "dataset_dir",
    "generate_variants",
    "global_temporal",
    "leave_one_out",
    "open_dataset",
    "tie_keys",
]
