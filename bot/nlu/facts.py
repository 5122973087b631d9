"""Fact classifier: ranks the curated facts a message asks about, learned from consumer paraphrases.

Training examples are the NLU examples whose intent block carries `metadata: {fact: <id>}`
(data/nlu/facts_*.yml), plus the examples of `none_intents` as the class "no fact" (small talk and
out-of-scope questions). The actions combine this ranking with the keyword rules of the knowledge base
(bot/kb/selection.py): the keywords stop being the only way to reach a fact.
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Text, Tuple

import numpy as np
import scipy.sparse
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.featurizers.featurizer import Featurizer
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.kb import load_knowledge_base
from bot.kb.retrieval import FactRetriever
from bot.paths import copy_nlu_data, reading_data_from
from bot.nlu.base import FingerprintedComponent, check_trained_with, nlu_fingerprint, normalized_text, original_span
from bot.nlu.constants import FACT_RANKING, FACT_SEGMENTS
from bot.nlu.segments import split_segments

logger = logging.getLogger(__name__)

NONE_LABEL = "__none__"


def sentence_features(message: Message) -> Optional[scipy.sparse.csr_matrix]:
    """The message's sparse sentence features of all featurizers side by side, as
    `message.get_sparse_features(TEXT)[1]` gives them, without also combining the (larger) sequence
    features, which this classifier does not use (a fifth of a turn's NLU time went there)."""
    found = _sentence_matrices(message)
    if not found:
        return None
    return scipy.sparse.csr_matrix(found[0] if len(found) == 1 else scipy.sparse.hstack(found))


def _sentence_matrices(message: Message) -> List[Any]:
    """The sparse sentence features of the message's text, one matrix per featurizer, in pipeline order."""
    return [f.features for f in message.features if f.attribute == TEXT and f.is_sparse() and f.type == "sentence"]


def sentence_columns(message: Message) -> Optional[Tuple[np.ndarray, np.ndarray, int]]:
    """(column, count) of every stored entry of `sentence_features(message)` in column order, and its width,
    read from the featurizers' one-row matrices without building the combined matrix; None without
    sparse features."""
    found = _sentence_matrices(message)
    if not found:
        return None
    columns, counts, width = [], [], 0
    for matrix in found:
        entries = matrix.tocoo()
        if entries.shape[0] != 1:
            break
        columns.append(entries.col.astype(np.int64) + width)
        counts.append(entries.data)
        width += entries.shape[1]
    else:
        column = np.concatenate(columns)
        order = np.argsort(column, kind="stable")
        column = column[order]
        if not np.any(column[1:] == column[:-1]):  # repeated columns: the combined matrix adds them up
            return column, np.concatenate(counts)[order], width
    combined = sentence_features(message)
    assert combined is not None
    return combined.indices, combined.data, combined.shape[1]


def _no_features() -> ValueError:
    return ValueError(
        "FactClassifier: a message has no sparse features. Put the featurizers before "
        "FactClassifier in config.yml, or set 'features: char_ngrams'."
    )


def example_fact(message: Message) -> Optional[str]:
    """The fact id an NLU example is labelled with (intent-block metadata `fact`), or None."""
    metadata = message.get("metadata") or {}
    for scope in ("example", "intent"):
        value = (metadata.get(scope) or {}).get("fact") if isinstance(metadata.get(scope), dict) else None
        if value:
            return str(value)
    return None


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class FactClassifier(FingerprintedComponent):
    """Adds `fact_ranking` ([{"fact", "confidence"}], best first) and `fact_segments` (the same per sentence
    of a message of several sentences: [{"start", "end", "question", "ranking", "text"}], with the span in
    the message and the normalised text of the sentence) to the parse output; never sets the intent."""

    @classmethod
    def required_components(cls) -> List[type]:
        """Needs the featurizers when `features` is `pipeline`."""
        return [Featurizer]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Returns the component's default config."""
        return {
            # `pipeline`: the sparse sentence features of the featurizers before this component
            # (word and character counts, cue groups), TF-IDF weighted. `char_ngrams`: its own
            # character 1..4-grams of the normalised text (needs no featurizer).
            "features": "pipeline",
            # Intents whose examples teach the class "no fact" (not covered by the knowledge base).
            "none_intents": ["out_of_scope", "greet", "goodbye", "thanks", "ask_help", "request_human"],
            # `svm`: a linear support-vector machine, one class against the rest (fast, best measured);
            # `logistic`: a multinomial logistic regression (calibrated, but ~60x slower to train).
            "model": "svm",
            # Inverse regularisation strength.
            "C": 1.0,
            # Iterations of the solver.
            "max_iter": 2000,
            # Confidences are softmax(scale * score): how sharply the best fact stands out.
            "confidence_scale": 4.0,
            # Weight of the keyword rules as features: one column per fact, the strength with which
            # the fact's keywords (data/facts) match the message. 0 leaves them out.
            "keyword_features": 0.3,
            # Fact folder for the keyword rules; None uses data/facts.
            "facts_dir": None,
            # How many facts the ranking in the parse output lists.
            "ranking_length": 8,
        }

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        classes: Optional[List[str]] = None,
        coef: Optional[np.ndarray] = None,
        intercept: Optional[np.ndarray] = None,
        idf: Optional[np.ndarray] = None,
        vocabulary: Optional[Dict[str, int]] = None,
    ) -> None:
        """A classifier, trained when `classes` and the weights are given."""
        self.config = {**self.get_default_config(), **config}
        if self.config["features"] not in ("pipeline", "char_ngrams"):
            raise ValueError(
                f"FactClassifier: 'features' is {self.config['features']!r}; use 'pipeline' or 'char_ngrams' in config.yml."
            )
        self._storage, self._resource = model_storage, resource
        self.classes, self.coef, self.intercept = classes or [], coef, intercept
        self.idf, self.vocabulary = idf, vocabulary or {}
        self.retriever: Optional[FactRetriever] = None
        self.keyword_facts: List[str] = []
        if float(self.config["keyword_features"]) > 0:
            facts_dir = Path(self.config["facts_dir"]) if self.config.get("facts_dir") else None
            self.retriever = FactRetriever(load_knowledge_base(facts_dir))
            self.keyword_facts = sorted(self.retriever.kb.facts)

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "FactClassifier":
        """An untrained classifier."""
        return cls(config, model_storage, resource)

    # -- features -------------------------------------------------------------------------------

    def _char_ngrams(self, message: Message) -> Dict[str, float]:
        text = normalized_text(message) or ""
        grams: Dict[str, float] = {}
        for word in text.split():
            padded = f" {word} "
            for n in range(1, 5):
                for i in range(len(padded) - n + 1):
                    gram = padded[i : i + n]
                    if gram.strip():
                        grams[gram] = grams.get(gram, 0.0) + 1.0
        return grams

    def _raw(self, messages: List[Message], fit: bool = False) -> scipy.sparse.csr_matrix:
        if self.config["features"] == "pipeline":
            rows = []
            for message in messages:
                sentence = sentence_features(message)
                if sentence is None:
                    raise _no_features()
                rows.append(sentence)
            return rows[0] if len(rows) == 1 else scipy.sparse.vstack(rows).tocsr()
        grams = [self._char_ngrams(m) for m in messages]
        if fit:
            self.vocabulary = {g: i for i, g in enumerate(sorted({g for row in grams for g in row}))}
        data, indices, indptr = [], [], [0]
        for row in grams:
            for gram, count in row.items():
                column = self.vocabulary.get(gram)
                if column is not None:
                    indices.append(column)
                    data.append(count)
            indptr.append(len(indices))
        return scipy.sparse.csr_matrix((data, indices, indptr), shape=(len(grams), len(self.vocabulary)))

    def _keyword_values(self, text: str) -> List[Tuple[int, float]]:
        """(keyword column, strength) of each fact the text's keywords point to (1 = a specific keyword)."""
        if self.retriever is None:
            return []
        specific = self.retriever.specific_score
        column = {fact: i for i, fact in enumerate(self.keyword_facts)}
        return [
            (column[fact], min(score / specific, 1.5) * float(self.config["keyword_features"]))
            for fact, (score, _) in self.retriever.scores(text).items()
            if fact in column
        ]

    def _keywords(self, texts: List[str]) -> scipy.sparse.csr_matrix:
        """Per message, the keyword strength of every fact (1 = as strong as a specific keyword)."""
        data, rows, cols = [], [], []
        for row, text in enumerate(texts):
            for column, value in self._keyword_values(text):
                rows.append(row)
                cols.append(column)
                data.append(value)
        return scipy.sparse.csr_matrix((data, (rows, cols)), shape=(len(texts), len(self.keyword_facts)))

    def _features(self, raw: scipy.sparse.csr_matrix, texts: List[str]) -> scipy.sparse.csr_matrix:
        """The weighted text features and the keyword features side by side."""
        return scipy.sparse.hstack([self._weighted(raw), self._keywords(texts)]).tocsr()

    def _weighted(self, raw: scipy.sparse.csr_matrix) -> scipy.sparse.csr_matrix:
        """Sublinear term frequency times IDF, rows scaled to unit length."""
        assert self.idf is not None  # set by train() or load() before any features are weighted
        x = raw.copy().astype(np.float64)
        x.data = 1.0 + np.log(np.maximum(x.data, 1.0))
        x = x.multiply(self.idf.reshape(1, -1)).tocsr()
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return scipy.sparse.diags(1.0 / norms) @ x

    # -- training and use ---------------------------------------------------------------------

    def _examples(self, training_data: TrainingData) -> Tuple[List[Message], List[str]]:
        none_intents = set(self.config["none_intents"])
        messages, labels = [], []
        for message in training_data.intent_examples:
            if not message.get(TEXT):
                continue
            fact = example_fact(message)
            if fact:
                messages.append(message)
                labels.append(fact)
            elif message.get(INTENT) in none_intents:
                messages.append(message)
                labels.append(NONE_LABEL)
        return messages, labels

    def train(self, training_data: TrainingData) -> Resource:
        """Fit the linear model over the labelled examples and persist it."""
        messages, labels = self._examples(training_data)
        if len(set(labels) - {NONE_LABEL}) < 2:
            logger.warning("FactClassifier: fewer than two facts have examples; it will rank nothing.")
            self.persist()
            return self._resource
        raw = self._raw(messages, fit=True)
        document_frequency = np.asarray((raw > 0).sum(axis=0)).ravel()
        self.idf = np.log((1.0 + raw.shape[0]) / (1.0 + document_frequency)) + 1.0
        model = self._model()
        model.fit(self._features(raw, [normalized_text(m) or "" for m in messages]), labels)
        self.classes = [str(c) for c in model.classes_]
        self.coef, self.intercept = model.coef_, np.ravel(model.intercept_)
        if len(self.classes) == 2:  # a binary model has one row: the second class against the first
            self.coef, self.intercept = (
                np.vstack([-self.coef, self.coef]),
                np.concatenate([-self.intercept, self.intercept]),
            )
        self.persist()
        return self._resource

    def _model(self) -> Any:
        C, iterations = float(self.config["C"]), int(self.config["max_iter"])
        if self.config["model"] == "svm":
            from sklearn.svm import LinearSVC

            return LinearSVC(C=C, max_iter=iterations, class_weight="balanced", random_state=42)
        if self.config["model"] == "logistic":
            from sklearn.linear_model import LogisticRegression

            return LogisticRegression(C=C, max_iter=iterations, class_weight="balanced", random_state=42)
        raise ValueError(f"FactClassifier: 'model' is {self.config['model']!r}; use 'svm' or 'logistic' in config.yml.")

    def rank(self, messages: List[Message]) -> List[List[Dict[str, Any]]]:
        """Per message, the facts by probability (the "no fact" class included), best first."""
        if not self.classes or self.coef is None:
            return [[] for _ in messages]
        texts = [normalized_text(m) or "" for m in messages]
        if len(messages) == 1:  # a user's message: the same sums on one row, without sparse-matrix overhead
            if self.config["features"] == "pipeline":
                entries = sentence_columns(messages[0])
                if entries is None:
                    raise _no_features()
            else:
                raw = self._raw(messages)
                entries = (raw.indices, raw.data, raw.shape[1])
            return self._rank_scores(self._one_row_scores(*entries, texts[0])[None, :])
        return self._rank_rows(self._features(self._raw(messages), texts))

    def _one_row_scores(self, columns: np.ndarray, counts: np.ndarray, width: int, text: str) -> np.ndarray:
        """`_features(raw, [text]) @ coef.T` for one message whose raw features have these entries, computed
        on its non-zero columns only."""
        assert self.coef is not None and self.idf is not None  # set by train() or load()
        self._check_width(width + len(self.keyword_facts))
        counts = counts.astype(np.float64)
        weights = (1.0 + np.log(np.maximum(counts, 1.0))) * self.idf[columns]
        norm = float(np.sqrt(np.dot(weights, weights))) or 1.0
        scores = self.coef[:, columns] @ (weights / norm)
        for column, value in self._keyword_values(text):
            scores = scores + self.coef[:, width + column] * value
        return scores

    def _check_width(self, width: int) -> None:
        assert self.coef is not None
        if width != self.coef.shape[1]:
            raise ValueError(
                f"FactClassifier: features have {width} columns but the model was trained on "
                f"{self.coef.shape[1]}; retrain the model (`rasa train`) after changing the pipeline."
            )

    def _rank_rows(self, x: scipy.sparse.csr_matrix) -> List[List[Dict[str, Any]]]:
        assert self.coef is not None  # the callers return early without a trained model
        self._check_width(x.shape[1])
        return self._rank_scores(np.asarray(x @ self.coef.T))

    def _rank_scores(self, raw_scores: np.ndarray) -> List[List[Dict[str, Any]]]:
        """Rankings from the linear scores (one row per message)."""
        scores = (raw_scores + self.intercept) * (
            float(self.config["confidence_scale"]) if self.config["model"] == "svm" else 1.0
        )
        scores -= scores.max(axis=1, keepdims=True)
        probabilities = np.exp(scores)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        ranked = []
        for row in probabilities:
            order = np.argsort(-row)[: int(self.config["ranking_length"])]
            ranked.append([{"fact": self.classes[i], "confidence": round(float(row[i]), 4)} for i in order])
        return ranked

    def process(self, messages: List[Message]) -> List[Message]:
        """Sets `fact_ranking` on each message with text, and `fact_segments` when it has several sentences."""
        with_text = [m for m in messages if m.get(TEXT)]
        for message, ranking in zip(with_text, self.rank(with_text) if with_text else []):
            message.set(FACT_RANKING, ranking, add_to_output=True)
            message.set(FACT_SEGMENTS, self.rank_segments(message), add_to_output=True)
        return messages

    def rank_segments(self, message: Message) -> List[Dict[str, Any]]:
        """Each sentence of a message of several sentences with its own short ranking (else [])."""
        norm = normalized_text(message) or ""
        segments = split_segments(norm)
        if len(segments) < 2 or not self.classes or self.coef is None:
            return []
        if self.config["features"] == "pipeline":
            sequence = message.get_sparse_features(TEXT)[0]
            tokens = message.get(TOKENS_NAMES[TEXT]) or []
            if sequence is None or len(tokens) != sequence.features.shape[0]:
                return []
            matrix = scipy.sparse.csr_matrix(sequence.features)
        result = []
        for segment in segments:
            start, end = original_span(message, segment.start, segment.end)
            if self.config["features"] == "pipeline":
                rows = [i for i, t in enumerate(tokens) if start <= t.start < end]
                if not rows:
                    continue
                raw = scipy.sparse.csr_matrix(matrix[rows].sum(axis=0))
            else:
                part = Message(data={TEXT: norm[segment.start : segment.end]})
                raw = self._raw([part])
            ranking = self._rank_rows(self._features(raw, [norm[segment.start : segment.end]]))[0][:3]
            result.append(
                {
                    "start": start,
                    "end": end,
                    "question": segment.question,
                    "ranking": ranking,
                    "text": norm[segment.start : segment.end],
                }
            )
        return result

    # -- persistence ----------------------------------------------------------------------------

    def persist(self) -> None:
        """Writes the weights and vocabulary to the model storage."""
        with self._storage.write_to(self._resource) as folder:
            (folder / "classes.json").write_text(json.dumps(self.classes), encoding="utf-8")
            (folder / "vocabulary.json").write_text(json.dumps(self.vocabulary, ensure_ascii=False), encoding="utf-8")
            (folder / "keyword_facts.json").write_text(json.dumps(self.keyword_facts), encoding="utf-8")
            # What the NLU read when it was trained (term lists, facts, code): checked when loading.
            (folder / "nlu_fingerprint.txt").write_text(nlu_fingerprint(), encoding="utf-8")
            # The facts whose keywords are features, read again from this copy when the model is loaded.
            copy_nlu_data(folder / "data", self._own_facts())
            for name, value in (("coef", self.coef), ("intercept", self.intercept), ("idf", self.idf)):
                np.save(folder / f"{name}.npy", value if value is not None else np.zeros(0))

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "FactClassifier":
        """Loads a trained classifier (an untrained one when nothing was persisted), its keyword rules built
        from the facts the model carries (from data/facts for models trained before it kept a copy)."""
        with contextlib.ExitStack() as stack:
            try:
                folder = stack.enter_context(model_storage.read_from(resource))
                classes = json.loads((folder / "classes.json").read_text(encoding="utf-8"))
                vocabulary = json.loads((folder / "vocabulary.json").read_text(encoding="utf-8"))
                keyword_facts = json.loads((folder / "keyword_facts.json").read_text(encoding="utf-8"))
                arrays = {n: np.load(folder / f"{n}.npy") for n in ("coef", "intercept", "idf")}
            except (ValueError, FileNotFoundError):
                logger.warning("FactClassifier: no trained weights in the model; it will rank nothing.")
                return cls(config, model_storage, resource)
            stamp = folder / "nlu_fingerprint.txt"  # absent in models trained before it was written
            trained_with = stamp.read_text(encoding="utf-8").strip() if stamp.is_file() else ""
            if (folder / "data").is_dir():
                stack.enter_context(reading_data_from(folder / "data"))
                config = {**config, "facts_dir": None}
            classifier = cls(
                config, model_storage, resource, classes, arrays["coef"], arrays["intercept"], arrays["idf"], vocabulary
            )
        check_trained_with(trained_with)
        if classifier.retriever is not None:
            # Columns as trained; a fact added to the knowledge base since then has none until retraining.
            classifier.keyword_facts = keyword_facts
        return classifier

    def _own_facts(self) -> Dict[str, Path]:
        """The configured fact folder, copied in place of data/facts (none: the data folder's own)."""
        return {"facts": Path(self.config["facts_dir"])} if self.config.get("facts_dir") else {}
