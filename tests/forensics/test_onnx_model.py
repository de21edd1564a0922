"""onnx_model: a tiny ONNX classifier built here, with its card, is run as the card says."""

import io
import json
import math

import numpy as np
import pytest
from PIL import Image

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

from claimlens.forensics.analyze import analyze  # noqa: E402
from claimlens.forensics.base import run_detector  # noqa: E402
from claimlens.forensics.detectors.onnx_model import ENV_DIR, ENV_MODELS, OnnxModel  # noqa: E402
from claimlens.forensics.evidence import Evidence  # noqa: E402

K = 6.0  # logit = K * mean of the (normalised) input, or of one channel


def build_model(path, layout="NCHW", channel=None, out="logits2", size=8, dynamic=False):
    """Model whose output depends on the input's mean brightness (optionally of one channel).

    out = "logits2": [z, -z] (index 0 rises with brightness); "prob1": [sigmoid(z)]."""
    dims = [1, 3, size, size] if layout == "NCHW" else [1, size, size, 3]
    if dynamic:
        dims = [1, 3, "h", "w"] if layout == "NCHW" else [1, "h", "w", 3]
    caxis = 1 if layout == "NCHW" else 3
    nodes, inits = [], []
    src = "x"
    if channel is not None:
        inits.append(helper.make_tensor("ch", TensorProto.INT64, [1], [channel]))
        nodes.append(helper.make_node("Gather", ["x", "ch"], ["xc"], axis=caxis))
        src = "xc"
    nodes.append(helper.make_node("ReduceMean", [src], ["m4"], axes=[1, 2, 3], keepdims=1))
    inits.append(helper.make_tensor("shape", TensorProto.INT64, [2], [1, 1]))
    nodes.append(helper.make_node("Reshape", ["m4", "shape"], ["m"]))
    inits.append(helper.make_tensor("k", TensorProto.FLOAT, [], [K]))
    nodes.append(helper.make_node("Mul", ["m", "k"], ["z"]))
    if out == "logits2":
        nodes.append(helper.make_node("Neg", ["z"], ["nz"]))
        nodes.append(helper.make_node("Concat", ["z", "nz"], ["y"], axis=1))
        yshape = [1, 2]
    else:
        nodes.append(helper.make_node("Sigmoid", ["z"], ["y"]))
        yshape = [1, 1]
    graph = helper.make_graph(
        nodes,
        "brightness",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, yshape)],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def write_card(model_path, **fields):
    model_path.with_suffix(".json").write_text(json.dumps(fields))


def ev(rgb) -> Evidence:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(rgb, np.uint8)).save(buf, "PNG")
    return Evidence.from_bytes(buf.getvalue(), "claim.png")


def flat(value, shape=(64, 96)):
    return np.full(shape + (3,), value, np.uint8)


def sig(z):
    return 1 / (1 + math.exp(-z))


@pytest.fixture
def models_env(tmp_path, monkeypatch):
    empty = tmp_path / "no_models"
    empty.mkdir()
    monkeypatch.setenv(ENV_DIR, str(empty))
    monkeypatch.delenv(ENV_MODELS, raising=False)

    def use(*paths):
        monkeypatch.setenv(ENV_MODELS, ":".join(str(p) for p in paths))

    return use


def run(rgb):
    return run_detector(OnnxModel(), ev(rgb))


def test_not_applicable_without_models(models_env):
    r = run(flat(128))
    assert not r.applicable and ENV_MODELS in r.reason and r.score is None


def test_normalisation_and_output_index_are_honoured(tmp_path, models_env):
    m = build_model(tmp_path / "bright.onnx")
    write_card(m, mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5], ai_index=0, output_type="logits")
    models_env(m)
    # With mean/std 0.5 the input is in [-1, 1]: dark -> z = -K, bright -> z = +K; softmax over [z, -z].
    dark, bright = run(flat(0)), run(flat(255))
    assert dark.applicable and bright.applicable
    assert bright.score == pytest.approx(sig(2 * K), abs=1e-3)
    assert dark.score == pytest.approx(sig(-2 * K), abs=1e-3)
    assert [f.code for f in bright.findings] == ["model_ai_generated"] and bright.findings[0].severity == "high"
    assert dark.findings == []
    mid = run(flat(191))  # (0.749 - 0.5) / 0.5 = 0.498 -> z = 2.99
    assert mid.score == pytest.approx(sig(2 * K * (191 / 255 - 0.5) / 0.5), abs=1e-3)
    # The other output index means the opposite class.
    write_card(m, mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5], ai_index=1, output_type="logits")
    assert run(flat(255)).score == pytest.approx(sig(-2 * K), abs=1e-3)
    # Without normalisation the input stays in [0, 1]: dark -> z = 0 -> 0.5.
    write_card(m, ai_index=0)
    assert run(flat(0)).score == pytest.approx(0.5, abs=1e-3)


def test_probabilities_nhwc_and_channel_order(tmp_path, models_env):
    m = build_model(tmp_path / "red.onnx", layout="NHWC", channel=0, out="prob1")
    red = np.zeros((40, 40, 3), np.uint8)
    red[..., 0] = 255
    write_card(m, layout="NHWC", channel_order="RGB", output_type="probabilities", ai_index=0)
    models_env(m)
    assert run(red).score == pytest.approx(sig(K), abs=1e-3)
    # In BGR order channel 0 is blue, which is 0 here.
    write_card(m, layout="NHWC", channel_order="BGR", output_type="probabilities", ai_index=0)
    assert run(red).score == pytest.approx(0.5, abs=1e-3)


def test_yaml_card_tiles_and_threshold(tmp_path, models_env):
    m = build_model(tmp_path / "tiles.onnx", out="prob1", size=16)
    m.with_suffix(".yaml").write_text("name: tiler\ncrop: tiles\nmax_tiles: 3\noutput_type: probabilities\nthreshold: 0.9\n")
    models_env(m)
    img = flat(0, (64, 64))
    img[:, 32:] = 255  # half bright
    r = run(img)
    assert r.applicable and 0.5 < r.score < sig(K)
    assert r.extra["models"][0]["name"] == "tiler"
    assert r.findings == []  # below the card's threshold of 0.9


def test_broken_model_and_cards_are_reported_not_raised(tmp_path, models_env):
    good = build_model(tmp_path / "good.onnx", out="prob1")
    write_card(good, output_type="probabilities", ai_index=0)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"this is not an onnx file")
    write_card(broken, output_type="probabilities")
    bad_card = build_model(tmp_path / "badcard.onnx")
    bad_card.with_suffix(".json").write_text("{not json")
    no_card = build_model(tmp_path / "nocard.onnx")
    wrong_index = build_model(tmp_path / "wrongidx.onnx")
    write_card(wrong_index, ai_index=5)
    wrong_size = build_model(tmp_path / "wrongsize.onnx")
    write_card(wrong_size, input_size=[32, 32])
    missing = tmp_path / "missing.onnx"

    models_env(broken, bad_card, no_card, wrong_index, wrong_size, missing)
    r = run(flat(200))
    assert not r.applicable
    for words in ("cannot be loaded", "cannot be read", "no model card", "ai_index 5", "does not match", "not found"):
        assert words in r.reason, words

    models_env(broken, good)
    r = run(flat(255))
    assert r.applicable and r.score == pytest.approx(sig(K), abs=1e-3)
    assert [f.code for f in r.findings].count("model_error") == 1
    assert len(r.extra["errors"]) == 1


def test_dynamic_input_needs_card_size(tmp_path, models_env):
    m = build_model(tmp_path / "dyn.onnx", out="prob1", dynamic=True)
    write_card(m, output_type="probabilities")
    models_env(m)
    r = run(flat(255))
    assert not r.applicable and "input_size" in r.reason
    write_card(m, output_type="probabilities", input_size=[24, 24])
    assert run(flat(255)).score == pytest.approx(sig(K), abs=1e-3)


def test_analyze_survives_broken_model_and_uses_folder(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    folder.mkdir()
    m = build_model(folder / "bright.onnx", out="prob1")
    write_card(m, output_type="probabilities")
    (folder / "junk.onnx").write_bytes(b"\x00" * 10)
    monkeypatch.setenv(ENV_DIR, str(folder))
    monkeypatch.delenv(ENV_MODELS, raising=False)
    a = analyze(ev(flat(255)), only=["onnx_model"])
    r = a.result("onnx_model")
    assert r.applicable and r.score == pytest.approx(sig(K), abs=1e-3)
    assert any(f.code == "model_error" for f in r.findings)
    assert a.risk >= r.score - 1e-6
