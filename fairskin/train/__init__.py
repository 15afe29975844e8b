"""Train a skin-lesion classifier (timm) with patient-level splits, early stopping on validation
data only, and a saved format ``fairskin audit`` loads without ``--trust-model``."""

from fairskin.train._data import check_test_isolation, group_ids, labels_of, read_manifest, split_manifest
from fairskin.train._train import (ARCHS, TINY_ARCH, TrainConfig, TrainResult, build_model, check_arch, is_synthetic,
                                   train_classifier)

__all__ = [
    "ARCHS", "TINY_ARCH", "TrainConfig", "TrainResult", "build_model", "check_arch", "check_test_isolation", "group_ids",
    "is_synthetic", "labels_of", "read_manifest", "split_manifest", "train_classifier",
]
