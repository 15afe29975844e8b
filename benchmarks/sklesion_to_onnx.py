"""Worked example: convert the ``sklesion`` package's HAM10000 classifier (Keras, MIT licence; seven
classes akiec, bcc, bkl, df, mel, nv, vasc) to ONNX, so that ``fairskin audit sklesion.onnx`` scores
it through onnxruntime with no TensorFlow installed.

The Keras model takes two inputs: a 254 x 254 RGB image of 0-255 pixel values (it normalises
inside) and a 10-value vector of patient metadata (sex and body site one-hot, age / 90, an
age-missing flag). The audit feeds images only, so the ONNX graph fixes the metadata to "unknown
sex, unknown site, age missing" (the age set to the training mean, as sklesion does for a missing
age); the audited model is therefore sklesion without metadata, which is not how its authors
report it. sklesion resizes the whole photo to 254 x 254 (the aspect ratio is not kept); the
audit resizes the shorter side to 254 and takes the centre square.

The preprocessing goes into the ONNX file's metadata (``fairskin.json``): crop and resize 254,
``mean`` 0 and ``std`` 1/255 (the audit's ``(pixel / 255 - mean) / std`` then gives 0-255 pixels),
the class names (the audit sums akiec, bcc and mel as malignant) and ``output: probabilities``.

Needs tensorflow, tf2onnx and sklesion, which fairskin does not depend on; keep them out of the
project's environment::

    python3 -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install sklesion tf2onnx tensorflow-cpu
    /tmp/tfvenv/bin/python benchmarks/sklesion_to_onnx.py --out sklesion.onnx
"""

from __future__ import annotations

import argparse
import json
import pickle
from pathlib import Path


def table(paths: list[Path]) -> None:
    """Per-group AUROC with its interval and the small-group flags of ``fairskin audit --json`` files."""
    def f(v):
        return "n/a" if v is None else f"{v:.2f}"

    for p in paths:
        m = json.loads(p.read_text())["models"][0]
        print(f"{p.name}: {m['overall']['n']} rows audited")
        print("| group | n | malignant | AUROC (95% CI) | flags |\n| --- | --- | --- | --- | --- |")
        for g in [*m["groups"], {**m["overall"], "group": "all"}]:
            a = g["metrics"]["auroc"]
            print(f"| {g['group']} | {g['n']} | {g.get('positives')} | {f(a['value'])} ({f(a.get('ci_low'))} to "
                  f"{f(a.get('ci_high'))}) | {', '.join(g.get('flags', [])) or '-'} |")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path)
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--table", type=Path, nargs="+", help="print the per-group table of these audit JSON files "
                    "instead (no TensorFlow needed)")
    a = ap.parse_args(argv)
    if a.table:
        return table(a.table)
    if a.out is None:
        raise SystemExit("--out: give the .onnx file to write (or --table AUDIT.json ...)")
    if a.out.exists():
        raise SystemExit(f"--out: {a.out} exists; remove it first (nothing is overwritten)")

    import numpy as np
    import onnx
    import sklesion
    import tensorflow as tf
    import tf2onnx

    here = Path(sklesion.__file__).parent
    model = tf.keras.models.load_model(here / "model.keras")
    with open(here / "model_props.pkl", "rb") as fh:  # the package's own file (pickle: trusted here only)
        props = pickle.load(fh)
    side = [int(v) for v in props["img_shape"]]
    classes = [props["i_cl_map"][i] for i in range(len(props["i_cl_map"]))]
    oh = props["oh_map"]
    meta_vec = np.array(oh["sex"]["unknown"] + oh["loc"]["unknown"] + [props["age_mean"] / props["age_max"], 1.0],
                        np.float32)
    shapes = [tuple(i.shape) for i in model.inputs]
    img_first = shapes[0][-1] == 3
    if meta_vec.shape[0] != shapes[1 if img_first else 0][-1]:
        raise SystemExit(f"sklesion's metadata input has {shapes} values; this script expects 10")

    @tf.function(input_signature=[tf.TensorSpec([None, side[0], side[1], 3], tf.float32, name="image")])
    def image_only(image):
        meta = tf.tile(tf.constant(meta_vec)[None], [tf.shape(image)[0], 1])
        return model([image, meta] if img_first else [meta, image], training=False)

    # freeze: the Normalization layer's mean and variance are captured tensors, which tf2onnx would
    # otherwise turn into extra graph inputs
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    frozen = convert_variables_to_constants_v2(image_only.get_concrete_function())
    proto, _ = tf2onnx.convert.from_graph_def(frozen.graph.as_graph_def(), input_names=["image:0"],
                                              output_names=[t.name for t in frozen.outputs], opset=a.opset)
    info = {"class_names": classes, "output": "probabilities", "resize": side[0], "crop": side[0],
            "mean": [0.0, 0.0, 0.0], "std": [1 / 255] * 3, "source": f"sklesion {getattr(sklesion, '__version__', '')}"
            " (HAM10000, MIT); metadata input fixed to unknown sex, unknown site, age missing"}
    entry = proto.metadata_props.add()
    entry.key, entry.value = "fairskin.json", json.dumps(info)
    onnx.save(proto, str(a.out))
    # the same image through Keras and through the saved graph
    import onnxruntime as ort

    x = np.random.default_rng(0).uniform(0, 255, (2, side[0], side[1], 3)).astype(np.float32)
    want = image_only(tf.constant(x)).numpy()
    got = ort.InferenceSession(str(a.out), providers=["CPUExecutionProvider"]).run(None, {"image:0": x})[0]
    print(f"wrote {a.out} ({a.out.stat().st_size / 1e6:.1f} MB); classes {classes}; max |keras - onnx| = "
          f"{float(np.abs(want - got).max()):.2e}")


if __name__ == "__main__":
    main()
