"""The exact-unlearning track: SISA ensembles for classifiers (:mod:`obliviate.exact.sisa`).

``SISAEnsemble`` wraps any classifier model and the classifier track's training
recipe; deleting ids retrains only the shards that held them, and the result is the
ensemble trained from scratch without those ids, weight for weight. SISA is also a
classifier method (``sisa``), so it sits in ``obliviate bench`` and ``eval`` tables
next to the approximate methods.
"""

from obliviate.exact.checkpoints import DirectoryCheckpoints, MemoryCheckpoints
from obliviate.exact.sisa import Assignment, DeletionReport, SISAEnsemble, id_hash, slice_epochs

__all__ = ["Assignment", "DeletionReport", "DirectoryCheckpoints", "MemoryCheckpoints", "SISAEnsemble", "id_hash",
           "slice_epochs"]
