"""Reader study: can dermatologists tell synthetic images from real ones, skin type by skin type?

``create_study`` draws a blinded sample stratified by skin type x diagnosis x origin,
``invite_readers`` makes personal invite links, ``create_app`` / ``serve_study`` run the web app
that collects the answers, and ``analyze_study`` computes accuracy with intervals that treat
readers and images as random, d' and bias, realism by origin and skin type, agreement, diagnosis
accuracy and, given a synthetic audit, how detectability follows FID/KID/ITA fidelity;
``render_reader_study_report`` writes it as HTML.

The web app needs the ``reader`` extra (Flask, waitress, SQLAlchemy, Alembic; psycopg for
PostgreSQL): ``pip install 'fairskin[reader]'``. Imports of the web parts are lazy, so the
sample and the analysis work without it.
"""

from fairskin.reader_study._analyze import analyze_answers, analyze_study, fidelity_correlation, load_study_answers
from fairskin.reader_study._config import (SCHEMA, SERVED_SUFFIX, AnalyzeConfig, Questions, ServeConfig, StudyConfig,
                                           StudyFile, read_study_file, write_study_file)
from fairskin.reader_study._create import CreateResult, create_study, encode_image, served_image
from fairskin.reader_study._report import reader_study_sections, render_reader_study_report, summary_sentences
from fairskin.reader_study._simulate import COVERAGE_SCENARIOS, Scenario, coverage, simulate_study, true_accuracy
from fairskin.reader_study._stats import CrossedBootstrap, Estimate, dprime, wilson
from fairskin.reader_study._validate import is_item_id

__all__ = ["AnalyzeConfig", "COVERAGE_SCENARIOS", "CreateResult", "CrossedBootstrap", "Estimate", "Invite",
           "Questions", "RunningServer", "SCHEMA", "SERVED_SUFFIX", "Scenario", "ServeConfig", "StudyConfig", "StudyFile",
           "analyze_answers", "analyze_study", "coverage", "create_app", "create_study", "dprime", "encode_image",
           "fidelity_correlation", "invite_readers", "is_item_id", "load_study_answers", "open_store", "served_image",
           "read_study_file", "reader_order", "reader_study_sections", "render_reader_study_report", "serve_study",
           "simulate_study", "start_server", "summary_sentences", "true_accuracy", "wilson", "write_study_file"]

_LAZY = {"Invite": "_invite", "invite_readers": "_invite", "create_app": "_web", "serve_study": "_serve",
         "start_server": "_serve", "RunningServer": "_serve", "open_store": "_store", "reader_order": "_store"}


def __getattr__(name: str):
    """The web and database parts load on first use (they need the ``reader`` extra)."""
    if name in _LAZY:
        import importlib

        from fairskin.errors import MissingDependencyError

        try:
            module = importlib.import_module(f"fairskin.reader_study.{_LAZY[name]}")
        except ImportError as exc:
            raise MissingDependencyError(
                f"fairskin.reader_study.{name} requires the {exc.name} library, which is not installed. "
                f"Install it with: pip install 'fairskin[reader]'") from exc
        return getattr(module, name)
    raise AttributeError(f"module 'fairskin.reader_study' has no attribute {name!r}")
