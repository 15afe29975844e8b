"""Reader study: can dermatologists tell synthetic images from real ones, skin type by skin type?

``create_study`` draws a blinded sample stratified by skin type x diagnosis x origin,
``invite_readers`` makes personal invite links, ``create_app`` / ``serve_study`` run the web app
that collects the answers, and ``analyze_study`` computes accuracy with intervals that treat
readers and images as random, d' and bias, realism by origin and skin type, agreement, diagnosis
accuracy and, given a synthetic audit, how detectability follows FID/KID/ITA fidelity.

The web app needs the ``reader`` extra (Flask, waitress, SQLAlchemy, Alembic; psycopg for
PostgreSQL): ``pip install 'fairskin[reader]'``.
"""

from fairskin.reader_study._config import AnalyzeConfig, Questions, ServeConfig, StudyConfig, read_study_file
from fairskin.reader_study._create import CreateResult, create_study
from fairskin.reader_study._invite import Invite, invite_readers

__all__ = ["AnalyzeConfig", "CreateResult", "Invite", "Questions", "ServeConfig", "StudyConfig", "create_study",
           "invite_readers", "read_study_file"]
