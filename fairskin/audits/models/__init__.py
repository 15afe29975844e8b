"""The model loader the audit rooms share: TorchScript, torch.export, state dicts and safetensors
(with a timm architecture) and ONNX files, loaded without running pickled code, plus batched
prediction and the preprocessing each file declares.

It is not an audit: ``classifier`` scores with it, ``why`` explains what it loaded, and
``synthetic`` can use a classifier's penultimate layer as its feature extractor.
"""

from fairskin.audits.models._models import (
    LoadedModel,
    Preprocess,
    choose_device,
    crop_rgb,
    load_model,
    positive_log_odds,
    predict,
    resolve_preprocess,
    to_probability,
    to_tensor,
)

__all__ = ["LoadedModel", "Preprocess", "choose_device", "crop_rgb", "load_model", "positive_log_odds", "predict",
           "resolve_preprocess", "to_probability", "to_tensor"]
