"""Skin-type labels from people: a sample for annotators, a web app to collect their labels, and
their consensus with agreement statistics.

``create_annotation`` draws a sample stratified by the estimator's type into an annotation folder
(a reader-study folder plus ``annotate.json``), the reader study's ``invite_readers`` makes the
annotators' links, ``create_annotate_app`` / ``serve_annotation`` run the labelling pages on the
reader study's app (tokens, CSRF, CSP, SQLite or PostgreSQL), and ``analyze_annotation`` combines
the labels by Dawid-Skene, measures agreement and writes ``labels.csv`` with the human consensus.
"""

from fairskin.annotate._config import (ANNOTATE_FILE, FITZPATRICK_DESCRIPTIONS, AnnotateAnalyzeConfig, AnnotateConfig,
                                       read_annotation_file, swatches)
from fairskin.annotate._calibrate import bootstrap_temperature, calibrated_dawid_skene, temper
from fairskin.annotate._consensus import Consensus, dawid_skene, majority_vote
from fairskin.annotate._simulate import (DEFAULT_PANEL, SKEWED_PRIOR, Annotator, annotator_confusion, calibration_error,
                                         simulate_annotations)

__all__ = ["ANNOTATE_FILE", "AnnotateAnalyzeConfig", "AnnotateConfig", "Annotator", "Consensus", "DEFAULT_PANEL",
           "FITZPATRICK_DESCRIPTIONS", "HUMAN_CONSENSUS", "SKEWED_PRIOR", "analyze_annotation", "annotator_confusion",
           "bootstrap_temperature", "calibrated_dawid_skene", "calibration_error", "confusion_document", "summary_lines",
           "create_annotate_app", "create_annotation", "dawid_skene", "majority_vote", "read_annotation_file",
           "render_annotation_report", "serve_annotation", "simulate_annotations", "start_annotation_server", "swatches", "temper"]

_LAZY = {"create_annotation": "_create", "analyze_annotation": "_analyze", "confusion_document": "_analyze",
         "HUMAN_CONSENSUS": "_analyze", "render_annotation_report": "_report", "summary_lines": "_report",
         "create_annotate_app": "_web", "serve_annotation": "_web", "start_annotation_server": "_web"}


def __getattr__(name: str):
    """The sample, the analysis and the web parts load on first use (the web app needs the ``reader`` extra)."""
    if name in _LAZY:
        import importlib

        from fairskin.errors import MissingDependencyError

        try:
            module = importlib.import_module(f"fairskin.annotate.{_LAZY[name]}")
        except ImportError as exc:
            if exc.name and exc.name.startswith("fairskin"):
                raise
            raise MissingDependencyError(
                f"fairskin.annotate.{name} requires the {exc.name} library, which is not installed. "
                f"Install it with: pip install 'fairskin[reader]'") from exc
        return getattr(module, name)
    raise AttributeError(f"module 'fairskin.annotate' has no attribute {name!r}")
