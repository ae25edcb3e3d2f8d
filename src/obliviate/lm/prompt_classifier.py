"""Does a prompt concern the forget target? The prompt classifier of ECO (Liu et al.,
"Large Language Model Unlearning via Embedding-Corrupted Prompts", NeurIPS 2024;
reference: chrisliu298/llm-unlearn-eco, ``eco/attack/classifier.py``), which decides
whether the model's input gets corrupted.

The reference fine-tunes RoBERTa on forget prompts (positive) against retain and
general prompts (negative) and thresholds its probability. Choice: no classifier
weights can be downloaded here, so ours is TF-IDF over character 2–4-grams (within
words) and a class-balanced logistic regression (scikit-learn): the same decision —
a text classifier separate from the unlearned model, trained on the same positives
and negatives — that keys on the names and terms of the forget target, and is stored
as plain JSON (vocabulary, idf, weights) beside the model."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np


@dataclass
class PromptClassifier:
    """Logistic regression on TF-IDF character n-grams; ``threshold`` on its probability."""

    vocabulary: dict[str, int]
    idf: np.ndarray
    weights: np.ndarray
    bias: float
    threshold: float = 0.5

    @classmethod
    def fit(cls, positives: Sequence[str], negatives: Sequence[str], threshold: float = 0.5,
            seed: int = 0) -> PromptClassifier:
        """Train on forget prompts (``positives``) against the others."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        if not positives or not negatives:
            raise ValueError("the prompt classifier needs forget prompts and other (retain) prompts to learn from")
        if not 0 < threshold < 1:
            raise ValueError(f"the prompt classifier's threshold must be in (0, 1), got {threshold}")
        vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), lowercase=True, sublinear_tf=True)
        features = vectorizer.fit_transform(list(positives) + list(negatives))
        labels = np.r_[np.ones(len(positives)), np.zeros(len(negatives))]
        # C 10: a weak penalty, the forget target's names are few n-grams among many
        regression = LogisticRegression(C=10.0, class_weight="balanced", max_iter=2000, random_state=seed)
        regression.fit(features, labels)
        vocabulary = {gram: int(i) for gram, i in vectorizer.vocabulary_.items()}
        return cls(vocabulary, vectorizer.idf_.astype(np.float64), regression.coef_[0].astype(np.float64),
                   float(regression.intercept_[0]), threshold)

    def _vectorizer(self):
        from sklearn.feature_extraction.text import TfidfVectorizer

        if not hasattr(self, "_fitted"):
            vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), lowercase=True, sublinear_tf=True,
                                         vocabulary=self.vocabulary)
            vectorizer.idf_ = self.idf
            self._fitted = vectorizer
        return self._fitted

    def probability(self, prompts: Sequence[str]) -> np.ndarray:
        """P(the prompt concerns the forget target) of each prompt."""
        if not len(prompts):
            return np.zeros(0)
        logits = self._vectorizer().transform(list(prompts)) @ self.weights + self.bias
        return 1.0 / (1.0 + np.exp(-np.asarray(logits).ravel()))

    def flags(self, prompts: Sequence[str]) -> list[bool]:
        return [bool(p > self.threshold) for p in self.probability(prompts)]

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"vocabulary": self.vocabulary, "idf": self.idf.tolist(),
                                          "weights": self.weights.tolist(), "bias": self.bias,
                                          "threshold": self.threshold}))

    @classmethod
    def load(cls, path: str | Path) -> PromptClassifier:
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"{path}: the prompt classifier is missing")
        saved = json.loads(path.read_text())
        return cls(saved["vocabulary"], np.asarray(saved["idf"]), np.asarray(saved["weights"]), float(saved["bias"]),
                   float(saved["threshold"]))
