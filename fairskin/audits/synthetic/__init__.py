"""Synthetic-image audit: ITA fidelity, FID/KID, precision/recall, diversity, memorisation.

Public API (the ``fairskin audit-synthetic`` command calls :func:`audit_synthetic`)::

    from fairskin.audits.synthetic import audit_synthetic
    result = audit_synthetic("balanced/manifest.csv", real="ddi/", extractor="inception",
                             inception_weights="weights-inception-2015-12-05-6726825d.pth")
    result.data      # fairskin.synthetic_audit/1 dict (docs/report-inputs.md)
    result.images    # one row per synthetic image: re-measured ITA, nearest real image, memorised
"""

from fairskin.audits.synthetic._features import (
    INCEPTION_ENV, INCEPTION_WEIGHTS_FILE, INCEPTION_WEIGHTS_URL, ClassifierExtractor, ColourTextureExtractor,
    FeatureExtractor, FeatureSet, HFExtractor, InceptionExtractor, ThumbnailExtractor, extract_features,
    load_extractor,
)
from fairskin.audits.synthetic._fidelity import (
    KidResult, density_coverage, feature_diversity, feature_statistics, fid_min_images, frechet_distance,
    frechet_distance_from_statistics, kid, load_lpips, lpips_diversity, precision_recall,
)
from fairskin.audits.synthetic._measures import (
    FIDELITY_METRICS, Column, FidelityContext, FidelityMetric, fidelity_columns, register_fidelity,
)
from fairskin.audits.synthetic._memorisation import NearestReal, nearest_real
from fairskin.audits.synthetic._synthetic import SCHEMA, SyntheticAudit, SyntheticAuditConfig, audit_synthetic, ita_fidelity

__all__ = [
    "SCHEMA", "SyntheticAudit", "SyntheticAuditConfig", "audit_synthetic", "ita_fidelity",
    "FeatureExtractor", "FeatureSet", "ColourTextureExtractor", "ThumbnailExtractor", "InceptionExtractor",
    "ClassifierExtractor", "HFExtractor", "load_extractor", "extract_features",
    "INCEPTION_ENV", "INCEPTION_WEIGHTS_FILE", "INCEPTION_WEIGHTS_URL",
    "KidResult", "density_coverage", "feature_diversity", "feature_statistics", "fid_min_images",
    "frechet_distance", "frechet_distance_from_statistics", "kid", "load_lpips", "lpips_diversity",
    "precision_recall", "NearestReal", "nearest_real",
    "FIDELITY_METRICS", "Column", "FidelityContext", "FidelityMetric", "fidelity_columns", "register_fidelity",
]
