#!/usr/bin/env python3
"""Generate converter-style ONNX test models with KServe v2 requests and
reference outputs for rtml's ONNX engine.

usage: /usr/bin/python3 tests/models/gen_models.py OUTDIR

For every model NAME it writes into OUTDIR:
  NAME.onnx                 the model
  NAME.request.json         KServe v2 request body, ~50 rows (edge rows first)
  NAME.expected.json        reference outputs + tolerance for that request
  NAME.b1.json, NAME.b64.json                   batch-1 / batch-64 requests
  NAME.b1.expected.json, NAME.b64.expected.json their reference outputs
and manifest.json describing every model.

The converter functions below are written by hand with onnx.helper and lay the
graphs out the way skl2onnx (scikit-learn) and onnxmltools (XGBoost) do:
the same operators, attribute conventions, default opsets (ai.onnx 15,
ai.onnx.ml 1 unless an operator needs a newer one) and output names
(label / probabilities, or output_label / output_probability after the
Cast + ZipMap stage that skl2onnx appends to classifiers).

Reference outputs of trained models come from scikit-learn / XGBoost
themselves (predict, predict_proba, decision_function), never from an ONNX
runtime.  Hand-built models (tree_modes_*, linear_classifier_*) are defined
by the ONNX-ML specification, so their outputs come from
onnx_ml_reference.py.  Every model is additionally evaluated with
onnx_ml_reference.run_model and compared with its reference, which checks the
hand-written converters.

Numbers: FP32 inputs are float32 values written with the shortest decimal
that round-trips to the same float32; a NaN input is written as the JSON
string "NaN" (JSON has no NaN; this is the convention of rtml's KServe codec,
src/serving/kserve_codec.cc, which also reads "Infinity" / "-Infinity").
Everything is seeded; two runs give byte-identical files.
"""

import json
import math
import os
import sys
import time
import warnings

import numpy as np
import onnx
from onnx import TensorProto, helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import check_outputs  # noqa: E402  (shared comparison rules)
import onnx_ml_reference as ref  # noqa: E402

ML = "ai.onnx.ml"
OPSET = 15
N_MAIN = 50
N_BENCH = 64
POOL = 320           # candidate test rows drawn per trained model
GAP = 1e-4           # minimum top-1 / top-2 probability gap kept (tie avoidance)
TOL = {"abs": 1e-4, "rel": 0.0}  # probabilities: within 1e-4 absolute

SKL2ONNX = ("skl2onnx", "1.14.1")
ONNXMLTOOLS = ("OnnxMLTools", "1.11.2")
HANDMADE = ("rtml-tests", "1")

f32 = np.float32


# ---------------------------------------------------------------------------
# Graph building helpers
# ---------------------------------------------------------------------------

class Graph:
    """Collects nodes and initializers; gives nodes unique skl2onnx-like names."""

    def __init__(self):
        self.nodes, self.inits, self._count = [], [], {}

    def _name(self, base):
        n = self._count.get(base, 0)
        self._count[base] = n + 1
        return base if n == 0 else "%s%d" % (base, n)

    def node(self, op, inputs, outputs, domain="", **attrs):
        self.nodes.append(helper.make_node(op, list(inputs), list(outputs),
                                           name=self._name(op), domain=domain, **attrs))
        return outputs[0] if len(outputs) == 1 else outputs

    def init(self, name, elem, shape, values):
        self.inits.append(helper.make_tensor(name, elem, list(shape), list(values)))
        return name


def tensor_vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def zipmap_vi(name, key_elem):
    t = onnx.TypeProto()
    m = t.sequence_type.elem_type.map_type
    m.key_type = key_elem
    m.value_type.tensor_type.elem_type = TensorProto.FLOAT
    return helper.make_value_info(name, t)


def finish(g, graph_name, inputs, outputs, ml_opset=1, producer=SKL2ONNX, doc=""):
    graph = helper.make_graph(g.nodes, graph_name, inputs, outputs, initializer=g.inits)
    opsets = [helper.make_opsetid("", OPSET)]
    if any(n.domain == ML for n in g.nodes):
        opsets.append(helper.make_opsetid(ML, ml_opset))
    model = helper.make_model(graph, opset_imports=opsets,
                              producer_name=producer[0], producer_version=producer[1])
    model.ir_version = 8
    model.domain = "ai.onnx"
    model.model_version = 0
    model.doc_string = doc
    onnx.checker.check_model(model, full_check=False)
    return model


def fl(values):
    return [float(v) for v in np.asarray(values, dtype=np.float64).ravel()]


def ints(values):
    return [int(v) for v in np.asarray(values).ravel()]


def label_kind(classes):
    """(is_string, labels as Python values)."""
    if all(isinstance(c, str) for c in classes):
        return True, [str(c) for c in classes]
    return False, [int(c) for c in classes]


def classifier_outputs(g, label, proba, classes, zipmap):
    """skl2onnx's final classifier stage.  With zipmap: Cast (int64 labels) or
    Identity (string labels) -> output_label, ZipMap -> output_probability.
    Without: the label / probabilities tensors are the graph outputs."""
    is_str, labels = label_kind(classes)
    elem = TensorProto.STRING if is_str else TensorProto.INT64
    if not zipmap:
        return [tensor_vi(label, elem, [None]),
                tensor_vi(proba, TensorProto.FLOAT, [None, len(labels)])]
    if is_str:
        g.node("Identity", [label], ["output_label"])
        g.node("ZipMap", [proba], ["output_probability"], domain=ML, classlabels_strings=labels)
    else:
        g.node("Cast", [label], ["output_label"], to=TensorProto.INT64)
        g.node("ZipMap", [proba], ["output_probability"], domain=ML, classlabels_int64s=labels)
    return [tensor_vi("output_label", elem, [None]), zipmap_vi("output_probability", elem)]


# ---------------------------------------------------------------------------
# Converters (scikit-learn -> ONNX as skl2onnx lays it out)
# ---------------------------------------------------------------------------

def conv_logistic_regression(g, lr, x):
    """LogisticRegression -> LinearClassifier (+ Normalizer L1 when > 2 classes).

    Binary: two coefficient rows [-w, w] / intercepts [-b, b], LOGISTIC, so the
    scores are [sigmoid(-z), sigmoid(z)] directly.  One-vs-rest: LOGISTIC then
    Normalizer(L1).  Multinomial: SOFTMAX (multi_class=1) then Normalizer(L1).
    Returns (label name, probabilities name)."""
    classes = lr.classes_
    n = len(classes)
    coef = fl(lr.coef_)
    intercepts = fl(lr.intercept_)
    if n == 2:
        coef = [-c for c in coef] + coef
        intercepts = [-b for b in intercepts] + intercepts
    ovr = lr.multi_class == "ovr" or (lr.multi_class == "auto" and (n <= 2 or lr.solver == "liblinear"))
    is_str, labels = label_kind(classes)
    attrs = dict(coefficients=coef, intercepts=intercepts,
                 multi_class=0 if ovr else 1,
                 post_transform="LOGISTIC" if ovr else "SOFTMAX")
    attrs["classlabels_strings" if is_str else "classlabels_ints"] = labels
    if n > 2:
        g.node("LinearClassifier", [x], ["label", "probability_tensor"], domain=ML, **attrs)
        g.node("Normalizer", ["probability_tensor"], ["probabilities"], domain=ML, norm="L1")
    else:
        g.node("LinearClassifier", [x], ["label", "probabilities"], domain=ML, **attrs)
    return "label", "probabilities"


def conv_standard_scaler(g, sc, x, out="variable"):
    """StandardScaler -> Scaler(offset=mean_, scale=1/scale_)."""
    g.node("Scaler", [x], [out], domain=ML, offset=fl(sc.mean_), scale=fl(1.0 / sc.scale_))
    return out


def sklearn_threshold(t):
    """skl2onnx's threshold adjustment for BRANCH_LEQ with float32 inputs:
    the largest float32 <= t, so that x <= result  <=>  x <= t for every
    float32 x (scikit-learn compares float32 features with double thresholds)."""
    f = np.float32(t)
    if float(f) > t:
        f = np.nextafter(f, np.float32(-np.inf))
    return float(f)


def tree_attr_lists(weight_prefix):
    names = ["nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_modes", "nodes_values",
             "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true",
             "nodes_hitrates", weight_prefix + "_treeids", weight_prefix + "_nodeids",
             weight_prefix + "_ids", weight_prefix + "_weights"]
    return {k: [] for k in names}


def add_sklearn_tree(attrs, tree, tree_id, scale, is_classifier, leaf_counts, double):
    """Append one fitted sklearn tree (node order = sklearn's preorder ids).
    Leaf weights are value * scale (value normalised first when the leaves
    hold class counts); a two-class leaf keeps only the class-1 weight, under
    class_id 0 (skl2onnx's binary layout)."""
    wp = "class" if is_classifier else "target"
    for i in range(tree.node_count):
        leaf = tree.children_left[i] == -1
        attrs["nodes_treeids"].append(tree_id)
        attrs["nodes_nodeids"].append(i)
        attrs["nodes_featureids"].append(0 if leaf else int(tree.feature[i]))
        attrs["nodes_modes"].append("LEAF" if leaf else "BRANCH_LEQ")
        t = float(tree.threshold[i])
        attrs["nodes_values"].append(0.0 if leaf else (t if double else sklearn_threshold(t)))
        attrs["nodes_truenodeids"].append(0 if leaf else int(tree.children_left[i]))
        attrs["nodes_falsenodeids"].append(0 if leaf else int(tree.children_right[i]))
        attrs["nodes_missing_value_tracks_true"].append(0)
        attrs["nodes_hitrates"].append(1.0)
        if leaf:
            w = np.asarray(tree.value[i], dtype=np.float64).ravel()
            factor = scale
            if leaf_counts:
                s = w.sum()
                factor = scale / (s if s != 0 else 1.0)
            w = w * factor
            if is_classifier and len(w) == 2:
                w = w[1:]
            for k, wk in enumerate(w):
                attrs[wp + "_treeids"].append(tree_id)
                attrs[wp + "_nodeids"].append(i)
                attrs[wp + "_ids"].append(k)
                attrs[wp + "_weights"].append(float(wk))


def as_double_tensors(attrs, names):
    """ai.onnx.ml opset 3: move float attributes into double *_as_tensor ones."""
    for n in names:
        values = attrs.pop(n)
        attrs[n + "_as_tensor"] = helper.make_tensor("", TensorProto.DOUBLE, [len(values)], values)


def conv_random_forest_classifier(g, rf, x):
    attrs = tree_attr_lists("class")
    for t, est in enumerate(rf.estimators_):
        add_sklearn_tree(attrs, est.tree_, t, 1.0 / len(rf.estimators_), True, True, False)
    is_str, labels = label_kind(rf.classes_)
    attrs["classlabels_strings" if is_str else "classlabels_int64s"] = labels
    attrs["post_transform"] = "NONE"
    g.node("TreeEnsembleClassifier", [x], ["label", "probabilities"], domain=ML, **attrs)
    return "label", "probabilities"


def conv_random_forest_regressor(g, rf, x, double=False):
    attrs = tree_attr_lists("target")
    for t, est in enumerate(rf.estimators_):
        add_sklearn_tree(attrs, est.tree_, t, 1.0 / len(rf.estimators_), False, False, double)
    attrs["n_targets"] = 1
    attrs["post_transform"] = "NONE"
    if double:
        as_double_tensors(attrs, ["nodes_values", "nodes_hitrates", "target_weights"])
    g.node("TreeEnsembleRegressor", [x], ["variable"], domain=ML, **attrs)
    return "variable"


def conv_gradient_boosting_classifier(g, gb, x, n_features):
    """Binary GradientBoostingClassifier: class_id-0 margin column, one base
    value (the initial log-odds), LOGISTIC."""
    assert len(gb.classes_) == 2
    attrs = tree_attr_lists("class")
    for t in range(gb.n_estimators_):
        add_sklearn_tree(attrs, gb.estimators_[t, 0].tree_, t, gb.learning_rate, True, False, False)
    attrs["base_values"] = fl(gb._raw_predict_init(np.zeros((1, n_features))).ravel())
    is_str, labels = label_kind(gb.classes_)
    attrs["classlabels_strings" if is_str else "classlabels_int64s"] = labels
    attrs["post_transform"] = "LOGISTIC"
    g.node("TreeEnsembleClassifier", [x], ["label", "probabilities"], domain=ML, **attrs)
    return "label", "probabilities"


def conv_gradient_boosting_regressor(g, gb, x, n_features):
    attrs = tree_attr_lists("target")
    for t in range(gb.n_estimators_):
        add_sklearn_tree(attrs, gb.estimators_[t, 0].tree_, t, gb.learning_rate, False, False, False)
    attrs["base_values"] = fl(gb._raw_predict_init(np.zeros((1, n_features))).ravel())
    attrs["n_targets"] = 1
    attrs["post_transform"] = "NONE"
    g.node("TreeEnsembleRegressor", [x], ["variable"], domain=ML, **attrs)
    return "variable"


def conv_mlp_classifier(g, mlp, x, two_unit_softmax=False):
    """MLPClassifier: Cast, then MatMul + Add (+ activation) per layer, Softmax,
    and the label via ArgMax -> ArrayFeatureExtractor(classes, int32) ->
    Reshape(-1) -> Cast(int64), as skl2onnx does.

    two_unit_softmax: scikit-learn's binary MLP has one logistic output unit;
    the last layer is rewritten as two units with weights [0, w] and biases
    [0, b] so that Softmax gives exactly [1 - sigmoid(z), sigmoid(z)]."""
    act = {"relu": "Relu", "tanh": "Tanh", "logistic": "Sigmoid", "identity": "Identity"}[mlp.activation]
    h = g.node("Cast", [x], ["cast_input"], to=TensorProto.FLOAT)
    n_layers = len(mlp.coefs_)
    for i, (w, b) in enumerate(zip(mlp.coefs_, mlp.intercepts_)):
        last = i == n_layers - 1
        if last and two_unit_softmax:
            w = np.hstack([np.zeros_like(w), w])
            b = np.concatenate([[0.0], b])
        suffix = "" if i == 0 else str(i)
        coef = g.init("coefficient" + suffix, TensorProto.FLOAT, w.shape, fl(w))
        bias = g.init("intercepts" + suffix, TensorProto.FLOAT, [1, len(b)], fl(b))
        h = g.node("MatMul", [h, coef], ["mul_result" + suffix])
        h = g.node("Add", [h, bias], ["add_result" + suffix])
        if not last:
            h = g.node(act, [h], ["next_activations" + suffix])
    assert two_unit_softmax or mlp.out_activation_ == "softmax"
    h = g.node("Softmax", [h], ["out_activations_result"])
    g.node("Identity", [h], ["probabilities"])
    classes = np.asarray(mlp.classes_)
    g.init("classes", TensorProto.INT32, [len(classes)], ints(classes))
    g.init("shape_tensor", TensorProto.INT64, [1], [-1])
    g.node("ArgMax", ["probabilities"], ["argmax_output"], axis=1)
    g.node("ArrayFeatureExtractor", ["classes", "argmax_output"], ["array_feature_extractor_result"], domain=ML)
    g.node("Reshape", ["array_feature_extractor_result", "shape_tensor"], ["reshaped_result"])
    g.node("Cast", ["reshaped_result"], ["label"], to=TensorProto.INT64)
    return "label", "probabilities"


def conv_mlp_regressor_gemm(g, mlp, x):
    """MLPRegressor laid out with Gemm nodes (the layout of exporters that emit
    fully-connected layers, e.g. PyTorch's): alternating transB=1 with the
    weights stored [out, in] and transB=0 with [in, out]; bias C of shape [out]."""
    act = {"relu": "Relu", "tanh": "Tanh", "logistic": "Sigmoid"}[mlp.activation]
    h = x
    n_layers = len(mlp.coefs_)
    for i, (w, b) in enumerate(zip(mlp.coefs_, mlp.intercepts_)):
        trans_b = 1 if i % 2 == 0 else 0
        wt = w.T if trans_b else w
        wn = g.init("fc%d.weight" % i, TensorProto.FLOAT, wt.shape, fl(wt))
        bn = g.init("fc%d.bias" % i, TensorProto.FLOAT, [len(b)], fl(b))
        out = "variable" if i == n_layers - 1 else "gemm%d" % i
        h = g.node("Gemm", [h, wn, bn], [out], alpha=1.0, beta=1.0, transB=trans_b)
        if i < n_layers - 1:
            h = g.node(act, [h], ["act%d" % i])
    return "variable"


def svm_kernel_params(svm):
    return [float(np.float32(svm._gamma)), float(svm.coef0), float(svm.degree)]


def conv_svc(g, svc, x):
    """SVC (probability=False) -> SVMClassifier with libsvm's one-vs-one layout.
    For two classes skl2onnx negates dual_coef_ and intercept_ (scikit-learn
    flips the libsvm signs for binary problems)."""
    coef = np.asarray(svc.dual_coef_, dtype=np.float64).ravel()
    rho = np.asarray(svc.intercept_, dtype=np.float64)
    if len(svc.classes_) == 2:
        coef, rho = -coef, -rho
    is_str, labels = label_kind(svc.classes_)
    attrs = dict(kernel_type=svc.kernel.upper(), kernel_params=svm_kernel_params(svc),
                 support_vectors=fl(svc.support_vectors_), coefficients=fl(coef), rho=fl(rho),
                 vectors_per_class=ints(svc.n_support_), post_transform="NONE")
    attrs["classlabels_strings" if is_str else "classlabels_ints"] = labels
    g.node("SVMClassifier", [x], ["label", "probabilities"], domain=ML, **attrs)
    return "label", "probabilities"


def conv_svr(g, svr, x):
    g.node("SVMRegressor", [x], ["variable"], domain=ML,
           kernel_type=svr.kernel.upper(), kernel_params=svm_kernel_params(svr),
           support_vectors=fl(svr.support_vectors_), coefficients=fl(svr.dual_coef_),
           rho=fl(svr.intercept_), n_supports=len(svr.support_), post_transform="NONE")
    return "variable"


def conv_linear_svr(g, lsvr, x):
    """LinearSVR -> SVMRegressor with a LINEAR kernel and a single 'support
    vector' equal to coef_ (coefficient 1): y = <x, coef_> + intercept_."""
    g.node("SVMRegressor", [x], ["variable"], domain=ML,
           kernel_type="LINEAR", kernel_params=[0.0, 0.0, 0.0],
           support_vectors=fl(lsvr.coef_), coefficients=[1.0],
           rho=fl(lsvr.intercept_), n_supports=1, post_transform="NONE")
    return "variable"


def conv_linear_regression(g, lin, x):
    g.node("LinearRegressor", [x], ["variable"], domain=ML,
           coefficients=fl(lin.coef_), intercepts=fl(lin.intercept_),
           targets=int(np.asarray(lin.coef_).reshape(-1, np.asarray(lin.coef_).shape[-1]).shape[0]))
    return "variable"


def conv_linear_regression_double(g, lin, x):
    """skl2onnx's layout for a DoubleTensorType input (LinearRegressor only
    takes float): MatMul with coef_.T and Add of intercept_, in double."""
    w = np.asarray(lin.coef_, dtype=np.float64).reshape(-1, np.asarray(lin.coef_).shape[-1]).T
    g.init("coef", TensorProto.DOUBLE, w.shape, fl(w))
    g.init("intercept", TensorProto.DOUBLE, [1, w.shape[1]], fl(lin.intercept_))
    g.node("MatMul", [x, "coef"], ["multiplied"])
    g.node("Add", ["multiplied", "intercept"], ["variable"])
    return "variable"


# ---------------------------------------------------------------------------
# XGBoost -> ONNX as onnxmltools lays it out
# ---------------------------------------------------------------------------

def xgb_tree_attrs(booster, is_classifier):
    """Parse get_dump(dump_format='json'): BRANCH_LT splits (XGBoost goes to
    'yes' when x < split_condition), nodes renumbered in preorder,
    nodes_missing_value_tracks_true = (missing == yes), hitrates = cover,
    one weight per leaf with id 0."""
    wp = "class" if is_classifier else "target"
    attrs = tree_attr_lists(wp)
    dumps = [json.loads(d) for d in booster.get_dump(dump_format="json", with_stats=True)]
    raw = json.loads(booster.save_raw("json"))
    raw_trees = raw["learner"]["gradient_booster"]["model"]["trees"]
    for tree_id, root in enumerate(dumps):
        remap = {}

        def number(n):
            remap[n["nodeid"]] = len(remap)
            for c in n.get("children", []):
                number(c)

        number(root)
        split_conditions = raw_trees[tree_id]["split_conditions"]

        def emit(n):
            attrs["nodes_treeids"].append(tree_id)
            attrs["nodes_nodeids"].append(remap[n["nodeid"]])
            attrs["nodes_hitrates"].append(float(n.get("cover", 0.0)))
            if "children" in n:
                value = float(n["split_condition"])
                # The text dump must carry the exact float32 threshold.
                assert np.float32(value) == np.float32(split_conditions[n["nodeid"]]), "threshold precision"
                attrs["nodes_featureids"].append(int(n["split"][1:]))
                attrs["nodes_modes"].append("BRANCH_LT")
                attrs["nodes_values"].append(value)
                attrs["nodes_truenodeids"].append(remap[n["yes"]])
                attrs["nodes_falsenodeids"].append(remap[n["no"]])
                attrs["nodes_missing_value_tracks_true"].append(1 if n.get("missing") == n["yes"] else 0)
                for c in n["children"]:
                    emit(c)
            else:
                attrs["nodes_featureids"].append(0)
                attrs["nodes_modes"].append("LEAF")
                attrs["nodes_values"].append(0.0)
                attrs["nodes_truenodeids"].append(0)
                attrs["nodes_falsenodeids"].append(0)
                attrs["nodes_missing_value_tracks_true"].append(0)
                attrs[wp + "_treeids"].append(tree_id)
                attrs[wp + "_nodeids"].append(remap[n["nodeid"]])
                attrs[wp + "_ids"].append(0)
                attrs[wp + "_weights"].append(float(n["leaf"]))

        emit(root)
    return attrs


def xgb_base_score(booster):
    cfg = json.loads(booster.save_config())
    return float(cfg["learner"]["learner_model_param"]["base_score"])


def conv_xgb_classifier(g, model, x):
    """Binary XGBClassifier (binary:logistic): class_id-0 margin column,
    LOGISTIC, base_values = [logit(base_score)] unless base_score is 0.5."""
    booster = model.get_booster()
    attrs = xgb_tree_attrs(booster, True)
    base = xgb_base_score(booster)
    if base != 0.5:
        attrs["base_values"] = [float(-np.log(1.0 / np.float32(base) - 1.0))]
    attrs["post_transform"] = "LOGISTIC"
    attrs["classlabels_int64s"] = ints(model.classes_)
    g.node("TreeEnsembleClassifier", [x], ["label", "probabilities"], domain=ML, **attrs)
    return "label", "probabilities"


def conv_xgb_regressor(g, model, x):
    booster = model.get_booster()
    attrs = xgb_tree_attrs(booster, False)
    attrs["base_values"] = [xgb_base_score(booster)]
    attrs["n_targets"] = 1
    attrs["aggregate_function"] = "SUM"
    attrs["post_transform"] = "NONE"
    g.node("TreeEnsembleRegressor", [x], ["variable"], domain=ML, **attrs)
    return "variable"


# ---------------------------------------------------------------------------
# Test data helpers
# ---------------------------------------------------------------------------

def split(X, y, n_pool=POOL):
    return X[:-n_pool], y[:-n_pool], X[-n_pool:]


def edge_rows(Xtr):
    """Zeros, per-feature min / max, beyond the training range on both sides,
    and two exact training rows."""
    lo, hi = np.nanmin(Xtr, axis=0), np.nanmax(Xtr, axis=0)
    span = hi - lo
    return np.vstack([np.zeros_like(lo), lo, hi, hi + span, lo - span, Xtr[0], Xtr[1]])


def numeric_pool(Xtr, Xte):
    edges = edge_rows(Xtr)
    return f32(np.vstack([edges, Xte])), len(edges)


def with_threshold_rows(pool, n_edge, model, n_rows=12, seed=7):
    """Insert rows (after the edge rows) that sit exactly on split thresholds.

    Each row starts from a random test row, picks a tree and walks it from the
    root; at up to 3 nodes on the way whose feature is still untouched it sets
    the feature to the threshold (even rows) or to the next float32 above it
    (odd rows), then follows the branch that value takes.  For double
    thresholds (ai.onnx.ml opset 3) 'the threshold' is the largest float32 not
    above it.  These rows separate LEQ from LT and catch threshold rounding."""
    node = next(n for n in model.graph.node if n.op_type.startswith("TreeEnsemble"))
    a = ref.node_attributes(node)
    forest = ref._Forest(a, "class" if node.op_type.endswith("Classifier") else "target")
    rng = np.random.RandomState(seed)
    base = pool[n_edge:]
    rows = []
    for r in range(n_rows):
        x = np.array(base[rng.randint(len(base))], dtype=np.float64)
        touched = set()
        i = forest.roots[rng.randint(len(forest.roots))]
        while forest.modes[i] != "LEAF" and len(touched) < 3:
            f, v = forest.features[i], forest.values[i]
            if f not in touched:
                t = np.float32(v)
                if float(t) > v:
                    t = np.nextafter(t, np.float32(-np.inf))
                x[f] = float(t if r % 2 == 0 else np.nextafter(t, np.float32(np.inf)))
                touched.add(f)
            taken = ref._branch_taken(forest.modes[i], x[f], v, forest.missing[i])
            child = forest.true_ids[i] if taken else forest.false_ids[i]
            i = forest.index[(forest.tree_ids[i], child)]
        rows.append(x)
    new = np.vstack([pool[:n_edge], np.array(rows, dtype=pool.dtype), pool[n_edge:]])
    return new, n_edge + n_rows


def top_gap(proba):
    p = np.sort(np.asarray(proba, dtype=np.float64), axis=1)
    return p[:, -1] - p[:, -2]


def as64(x):
    return np.asarray(x, dtype=np.float64)


def zipmap_rows(proba, classes):
    _, labels = label_kind(classes)
    return [{str(l): float(p) for l, p in zip(labels, row)} for row in np.asarray(proba, dtype=np.float64)]


def class_array(values, classes):
    is_str, _ = label_kind(classes)
    return np.array([str(v) for v in values], dtype=object) if is_str else np.asarray(values, dtype=np.int64)


# ---------------------------------------------------------------------------
# Model cases
# ---------------------------------------------------------------------------
# Each builder returns a dict:
#   name, kind, description, model, feeds {input: pool array}, n_edge,
#   expected [(output name, per-row values)], keep (bool mask over the pool),
#   tolerance, reference (text), notes (list of text), crosscheck (bool)

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def classifier_case(name, description, model, x_name, pool, n_edge, proba, pred, classes, zipmap,
                    reference, kind, notes=(), tolerance=TOL, extra_keep=None):
    if zipmap:
        expected = [("output_label", class_array(pred, classes)),
                    ("output_probability", zipmap_rows(proba, classes))]
    else:
        expected = [("label", class_array(pred, classes)),
                    ("probabilities", as64(proba))]
    keep = top_gap(proba) >= GAP
    if extra_keep is not None:
        keep &= extra_keep
    return dict(name=name, kind=kind, description=description, model=model,
                feeds={x_name: pool}, n_edge=n_edge, expected=expected, keep=keep,
                tolerance=tolerance, reference=reference,
                notes=["labels compare exactly; rows whose top-2 probabilities are within %g "
                       "(ties) were left out" % GAP] + list(notes))


def _binary_logreg():
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    X, y = make_classification(n_samples=900 + POOL, n_features=6, n_informative=4, n_redundant=1,
                               random_state=11)
    Xtr, ytr, Xte = split(f32(X), y)
    lr = LogisticRegression(max_iter=1000).fit(Xtr, ytr)
    pool, n_edge = numeric_pool(Xtr, Xte)
    return lr, pool, n_edge


@case
def logreg_binary_zipmap():
    lr, pool, n_edge = _binary_logreg()
    g = Graph()
    label, proba = conv_logistic_regression(g, lr, "float_input")
    outs = classifier_outputs(g, label, proba, lr.classes_, True)
    model = finish(g, "LogisticRegression", [tensor_vi("float_input", TensorProto.FLOAT, [None, 6])], outs)
    return classifier_case("logreg_binary_zipmap",
                           "LogisticRegression, binary, 6 features: LinearClassifier (2 rows [-w, w], "
                           "LOGISTIC) -> Cast label + ZipMap(int64 labels)",
                           model, "float_input", pool, n_edge, lr.predict_proba(as64(pool)),
                           lr.predict(as64(pool)), lr.classes_, True,
                           "scikit-learn LogisticRegression.predict_proba / predict", "linear")


@case
def logreg_binary():
    lr, pool, n_edge = _binary_logreg()
    g = Graph()
    label, proba = conv_logistic_regression(g, lr, "float_input")
    outs = classifier_outputs(g, label, proba, lr.classes_, False)
    model = finish(g, "LogisticRegression", [tensor_vi("float_input", TensorProto.FLOAT, [None, 6])], outs)
    return classifier_case("logreg_binary",
                           "LogisticRegression, binary, 6 features, no ZipMap: label int64 [N], "
                           "probabilities float [N,2]",
                           model, "float_input", pool, n_edge, lr.predict_proba(as64(pool)),
                           lr.predict(as64(pool)), lr.classes_, False,
                           "scikit-learn LogisticRegression.predict_proba / predict", "linear")


@case
def logreg_multinomial():
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    X, y = make_classification(n_samples=1000 + POOL, n_features=8, n_informative=6, n_redundant=0,
                               n_classes=4, n_clusters_per_class=1, random_state=12)
    names = np.array(["gold", "silver", "bronze", "platinum"], dtype=object)[y]
    Xtr, ytr, Xte = split(f32(X), names)
    lr = LogisticRegression(max_iter=2000).fit(Xtr, ytr)
    assert lr.classes_.tolist() == ["bronze", "gold", "platinum", "silver"]
    pool, n_edge = numeric_pool(Xtr, Xte)
    g = Graph()
    label, proba = conv_logistic_regression(g, lr, "float_input")
    outs = classifier_outputs(g, label, proba, lr.classes_, True)
    model = finish(g, "LogisticRegression", [tensor_vi("float_input", TensorProto.FLOAT, [None, 8])], outs)
    return classifier_case("logreg_multinomial",
                           "LogisticRegression, 4 classes multinomial, string labels: LinearClassifier "
                           "(SOFTMAX, multi_class=1) -> Normalizer(L1) -> Identity label + "
                           "ZipMap(string keys)",
                           model, "float_input", pool, n_edge, lr.predict_proba(as64(pool)),
                           lr.predict(as64(pool)), lr.classes_, True,
                           "scikit-learn LogisticRegression.predict_proba / predict", "linear")


@case
def scaler_logreg():
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    X, y = make_classification(n_samples=900 + POOL, n_features=6, n_informative=4, n_redundant=0,
                               n_classes=3, n_clusters_per_class=1, random_state=13)
    X = X * np.array([1.0, 10.0, 100.0, 0.1, 1000.0, 1.0]) + np.array([0.0, 5.0, -50.0, 1.0, 2000.0, -3.0])
    y = np.array([10, 20, 30])[y]
    Xtr, ytr, Xte = split(f32(X), y)
    pipe = Pipeline([("scaler", StandardScaler()),
                     ("lr", LogisticRegression(multi_class="ovr", max_iter=1000))]).fit(Xtr, ytr)
    pool, n_edge = numeric_pool(Xtr, Xte)
    g = Graph()
    scaled = conv_standard_scaler(g, pipe.named_steps["scaler"], "float_input")
    label, proba = conv_logistic_regression(g, pipe.named_steps["lr"], scaled)
    outs = classifier_outputs(g, label, proba, pipe.classes_, True)
    model = finish(g, "pipeline", [tensor_vi("float_input", TensorProto.FLOAT, [None, 6])], outs)
    return classifier_case("scaler_logreg",
                           "Pipeline(StandardScaler, LogisticRegression one-vs-rest, 3 classes with labels "
                           "10/20/30): Scaler -> LinearClassifier (LOGISTIC) -> Normalizer(L1) -> ZipMap",
                           model, "float_input", pool, n_edge, pipe.predict_proba(as64(pool)),
                           pipe.predict(as64(pool)), pipe.classes_, True,
                           "scikit-learn Pipeline.predict_proba / predict", "linear")


@case
def rf_classifier():
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    X, y = make_classification(n_samples=1000 + POOL, n_features=8, n_informative=5, n_redundant=1,
                               n_classes=3, random_state=14)
    y = np.array([3, 5, 7])[y]
    Xtr, ytr, Xte = split(f32(X), y)
    rf = RandomForestClassifier(n_estimators=10, max_depth=6, random_state=0, n_jobs=1).fit(Xtr, ytr)
    pool, n_edge = numeric_pool(Xtr, Xte)
    g = Graph()
    label, proba = conv_random_forest_classifier(g, rf, "float_input")
    outs = classifier_outputs(g, label, proba, rf.classes_, True)
    model = finish(g, "RandomForestClassifier", [tensor_vi("float_input", TensorProto.FLOAT, [None, 8])], outs)
    pool, n_edge = with_threshold_rows(pool, n_edge, model)
    return classifier_case("rf_classifier",
                           "RandomForestClassifier 10 trees depth 6, 3 classes (labels 3/5/7): "
                           "TreeEnsembleClassifier BRANCH_LEQ, leaf probabilities / n_trees, SUM",
                           model, "float_input", pool, n_edge, rf.predict_proba(as64(pool)),
                           rf.predict(as64(pool)), rf.classes_, True,
                           "scikit-learn RandomForestClassifier.predict_proba / predict", "tree")


def _regression_case(name, description, model, x_name, pool, n_edge, pred, reference, kind,
                     tolerance=None, notes=(), out_dtype=np.float64):
    # Regression targets must agree within 1e-5 relative. For targets near
    # zero the absolute term is 1e-5 of the output's scale (max |y|), so a
    # float32 engine is held to the same relative precision everywhere.
    if tolerance is None or tolerance is TOL:
        scale = float(np.max(np.abs(pred))) if len(pred) else 1.0
        tolerance = {"abs": float("%.1e" % max(1e-6, 1e-5 * scale)), "rel": 1e-5}
    return dict(name=name, kind=kind, description=description, model=model,
                feeds={x_name: pool}, n_edge=n_edge,
                expected=[("variable", np.asarray(pred, dtype=out_dtype).reshape(len(pool), -1))],
                keep=np.ones(len(pool), dtype=bool),
                tolerance=tolerance, reference=reference, notes=list(notes))


def _regression_data(seed, n=800, features=6, noise=10.0, targets=1):
    from sklearn.datasets import make_regression
    X, y = make_regression(n_samples=n + POOL, n_features=features, n_informative=features - 1,
                           n_targets=targets, noise=noise, random_state=seed)
    return f32(X), y


@case
def rf_regressor():
    from sklearn.ensemble import RandomForestRegressor
    X, y = _regression_data(15)
    Xtr, ytr, Xte = split(X, y)
    rf = RandomForestRegressor(n_estimators=10, max_depth=7, random_state=0, n_jobs=1).fit(Xtr, ytr)
    pool, n_edge = numeric_pool(Xtr, Xte)
    g = Graph()
    conv_random_forest_regressor(g, rf, "float_input")
    model = finish(g, "RandomForestRegressor", [tensor_vi("float_input", TensorProto.FLOAT, [None, 6])],
                   [tensor_vi("variable", TensorProto.FLOAT, [None, 1])])
    pool, n_edge = with_threshold_rows(pool, n_edge, model)
    return _regression_case("rf_regressor",
                            "RandomForestRegressor 10 trees depth 7: TreeEnsembleRegressor BRANCH_LEQ, "
                            "leaf values / n_trees, SUM",
                            model, "float_input", pool, n_edge, rf.predict(as64(pool)),
                            "scikit-learn RandomForestRegressor.predict", "tree")


@case
def rf_regressor_v3():
    from sklearn.ensemble import RandomForestRegressor
    X, y = _regression_data(15)
    Xtr, ytr, Xte = split(X, y)
    rf = RandomForestRegressor(n_estimators=8, max_depth=6, random_state=1, n_jobs=1).fit(Xtr, ytr)
    pool, n_edge = numeric_pool(Xtr, Xte)
    g = Graph()
    conv_random_forest_regressor(g, rf, "X", double=True)
    model = finish(g, "RandomForestRegressor", [tensor_vi("X", TensorProto.DOUBLE, [None, 6])],
                   [tensor_vi("variable", TensorProto.FLOAT, [None, 1])], ml_opset=3)
    pool, n_edge = with_threshold_rows(pool, n_edge, model)
    pool = as64(pool)  # float32-representable doubles: scikit-learn sees the same values
    return _regression_case("rf_regressor_v3",
                            "RandomForestRegressor 8 trees, DOUBLE input, ai.onnx.ml opset 3 with "
                            "nodes_values_as_tensor / target_weights_as_tensor / nodes_hitrates_as_tensor "
                            "(double, thresholds unrounded); output Y is float as the spec requires",
                            model, "X", pool, n_edge, rf.predict(pool),
                            "scikit-learn RandomForestRegressor.predict", "tree",
                            tolerance=None,
                            notes=["thresholds are compared in double: every input is a float32 value "
                                   "written as a double"])


@case
def gb_classifier():
    from sklearn.datasets import make_classification
    from sklearn.ensemble import GradientBoostingClassifier
    X, y = make_classification(n_samples=1000 + POOL, n_features=8, n_informative=5, random_state=16)
    y = np.where(y == 1, 1, -1)
    Xtr, ytr, Xte = split(f32(X), y)
    gb = GradientBoostingClassifier(n_estimators=30, max_depth=3, learning_rate=0.1,
                                    random_state=0).fit(Xtr, ytr)
    pool, n_edge = numeric_pool(Xtr, Xte)
    g = Graph()
    label, proba = conv_gradient_boosting_classifier(g, gb, "float_input", 8)
    outs = classifier_outputs(g, label, proba, gb.classes_, True)
    model = finish(g, "GradientBoostingClassifier", [tensor_vi("float_input", TensorProto.FLOAT, [None, 8])],
                   outs)
    pool, n_edge = with_threshold_rows(pool, n_edge, model)
    return classifier_case("gb_classifier",
                           "GradientBoostingClassifier 30 trees depth 3, binary with labels -1/1: "
                           "TreeEnsembleClassifier with one class_id-0 margin column (weights * "
                           "learning_rate), base_values=[initial log-odds], LOGISTIC (ONNX-ML binary case)",
                           model, "float_input", pool, n_edge, gb.predict_proba(as64(pool)),
                           gb.predict(as64(pool)), gb.classes_, True,
                           "scikit-learn GradientBoostingClassifier.predict_proba / predict", "tree")


@case
def gb_regressor():
    from sklearn.ensemble import GradientBoostingRegressor
    X, y = _regression_data(17, noise=5.0)
    Xtr, ytr, Xte = split(X, y)
    gb = GradientBoostingRegressor(n_estimators=40, max_depth=3, learning_rate=0.1,
                                   random_state=0).fit(Xtr, ytr)
    pool, n_edge = numeric_pool(Xtr, Xte)
    g = Graph()
    conv_gradient_boosting_regressor(g, gb, "float_input", 6)
    model = finish(g, "GradientBoostingRegressor", [tensor_vi("float_input", TensorProto.FLOAT, [None, 6])],
                   [tensor_vi("variable", TensorProto.FLOAT, [None, 1])])
    pool, n_edge = with_threshold_rows(pool, n_edge, model)
    return _regression_case("gb_regressor",
                            "GradientBoostingRegressor 40 trees depth 3: TreeEnsembleRegressor, weights * "
                            "learning_rate, base_values=[mean of y], SUM",
                            model, "float_input", pool, n_edge, gb.predict(as64(pool)),
                            "scikit-learn GradientBoostingRegressor.predict", "tree")


def _with_nans(X, rate, rng):
    X = X.copy()
    X[rng.rand(*X.shape) < rate] = np.nan
    return X


def _xgb_pool(Xtr, Xte):
    edges = list(edge_rows(Xtr))
    nan_row = np.full(Xtr.shape[1], np.nan)
    half = edges[2].copy()
    half[::2] = np.nan
    edges += [nan_row, half]
    return f32(np.vstack(edges + [Xte])), len(edges)


@case
def xgb_classifier():
    import xgboost as xgb
    from sklearn.datasets import make_classification
    rng = np.random.RandomState(18)
    X, y = make_classification(n_samples=1200 + POOL, n_features=8, n_informative=5, random_state=18)
    X = _with_nans(f32(X), 0.08, rng)
    Xtr, ytr, Xte = split(X, y)
    model = xgb.XGBClassifier(n_estimators=30, max_depth=4, learning_rate=0.3, base_score=0.35,
                              tree_method="exact", n_jobs=1, random_state=0).fit(Xtr, ytr)
    pool, n_edge = _xgb_pool(Xtr, Xte)
    g = Graph()
    label, proba = conv_xgb_classifier(g, model, "float_input")
    outs = classifier_outputs(g, label, proba, model.classes_, False)
    onx = finish(g, "XGBClassifier", [tensor_vi("float_input", TensorProto.FLOAT, [None, 8])], outs,
                 producer=ONNXMLTOOLS)
    pool, n_edge = with_threshold_rows(pool, n_edge, onx)
    proba_ref = model.predict_proba(pool)
    keep = np.abs(as64(proba_ref)[:, 1] - 0.5) >= GAP
    return classifier_case("xgb_classifier",
                           "XGBClassifier binary:logistic 30 trees depth 4, NaNs in training and test data, "
                           "base_score=0.35: TreeEnsembleClassifier BRANCH_LT, float32 thresholds, "
                           "nodes_missing_value_tracks_true from XGBoost's default directions, "
                           "base_values=[logit(0.35)], LOGISTIC (onnxmltools layout, no ZipMap)",
                           onx, "float_input", pool, n_edge, proba_ref, model.predict(pool), model.classes_,
                           False, "XGBoost 1.7.4 XGBClassifier.predict_proba / predict", "tree",
                           notes=["inputs contain NaN, written as the JSON string \"NaN\""], extra_keep=keep)


@case
def xgb_regressor():
    import xgboost as xgb
    rng = np.random.RandomState(19)
    X, y = _regression_data(19, n=1000, noise=5.0)
    X = _with_nans(X, 0.08, rng)
    Xtr, ytr, Xte = split(X, y)
    model = xgb.XGBRegressor(n_estimators=40, max_depth=4, learning_rate=0.3, tree_method="exact",
                             n_jobs=1, random_state=0).fit(Xtr, ytr)
    pool, n_edge = _xgb_pool(Xtr, Xte)
    g = Graph()
    conv_xgb_regressor(g, model, "float_input")
    onx = finish(g, "XGBRegressor", [tensor_vi("float_input", TensorProto.FLOAT, [None, 6])],
                 [tensor_vi("variable", TensorProto.FLOAT, [None, 1])], producer=ONNXMLTOOLS)
    pool, n_edge = with_threshold_rows(pool, n_edge, onx)
    return _regression_case("xgb_regressor",
                            "XGBRegressor reg:squarederror 40 trees depth 4 with NaNs: TreeEnsembleRegressor "
                            "BRANCH_LT with missing-value tracking, base_values=[base_score 0.5]",
                            onx, "float_input", pool, n_edge, model.predict(pool),
                            "XGBoost 1.7.4 XGBRegressor.predict (float32)", "tree",
                            notes=["inputs contain NaN, written as the JSON string \"NaN\""])


@case
def mlp_classifier():
    from sklearn.datasets import make_classification
    from sklearn.neural_network import MLPClassifier
    X, y = make_classification(n_samples=1000 + POOL, n_features=6, n_informative=5, n_redundant=0,
                               n_classes=3, random_state=20)
    Xtr, ytr, Xte = split(f32(X), y)
    mlp = MLPClassifier(hidden_layer_sizes=(16, 8), activation="relu", max_iter=400,
                        random_state=0).fit(Xtr, ytr)
    pool, n_edge = numeric_pool(Xtr, Xte)
    g = Graph()
    label, proba = conv_mlp_classifier(g, mlp, "float_input")
    outs = classifier_outputs(g, label, proba, mlp.classes_, True)
    model = finish(g, "MLPClassifier", [tensor_vi("float_input", TensorProto.FLOAT, [None, 6])], outs)
    return classifier_case("mlp_classifier",
                           "MLPClassifier relu (16, 8), 3 classes: Cast, MatMul/Add/Relu x2, MatMul/Add, "
                           "Softmax; label = ArgMax -> ArrayFeatureExtractor(int32 classes) -> Reshape -> "
                           "Cast; then Cast + ZipMap",
                           model, "float_input", pool, n_edge, mlp.predict_proba(as64(pool)),
                           mlp.predict(as64(pool)), mlp.classes_, True,
                           "scikit-learn MLPClassifier.predict_proba / predict", "mlp")


@case
def mlp_regressor():
    from sklearn.neural_network import MLPRegressor
    X, y = _regression_data(21, features=5, noise=5.0)
    y = y / np.std(y)
    Xtr, ytr, Xte = split(X, y)
    mlp = MLPRegressor(hidden_layer_sizes=(16, 8), activation="tanh", max_iter=1000,
                       random_state=0).fit(Xtr, ytr)
    pool, n_edge = numeric_pool(Xtr, Xte)
    g = Graph()
    conv_mlp_regressor_gemm(g, mlp, "float_input")
    model = finish(g, "MLPRegressor", [tensor_vi("float_input", TensorProto.FLOAT, [None, 5])],
                   [tensor_vi("variable", TensorProto.FLOAT, [None, 1])])
    return _regression_case("mlp_regressor",
                            "MLPRegressor tanh (16, 8): Gemm(transB=1) -> Tanh -> Gemm(transB=0) -> Tanh -> "
                            "Gemm(transB=1)",
                            model, "float_input", pool, n_edge, mlp.predict(as64(pool)),
                            "scikit-learn MLPRegressor.predict", "mlp")


def _svc_case(name, n_classes, seed, description):
    from sklearn.datasets import make_classification
    from sklearn.svm import SVC
    X, y = make_classification(n_samples=450 + POOL, n_features=5, n_informative=4, n_redundant=0,
                               n_classes=n_classes, n_clusters_per_class=1, random_state=seed)
    Xtr, ytr, Xte = split(f32(X), y)
    svc = SVC(kernel="rbf", C=1.0, gamma="scale", decision_function_shape="ovo").fit(Xtr, ytr)
    pool, n_edge = numeric_pool(Xtr, Xte)
    g = Graph()
    label, scores = conv_svc(g, svc, "float_input")
    width = 2 if n_classes == 2 else n_classes * (n_classes - 1) // 2
    model = finish(g, "SVC", [tensor_vi("float_input", TensorProto.FLOAT, [None, 5])],
                   [tensor_vi(label, TensorProto.INT64, [None]),
                    tensor_vi(scores, TensorProto.FLOAT, [None, width])])
    dec = as64(svc.decision_function(as64(pool)))
    pred = svc.predict(as64(pool))
    if n_classes == 2:
        scores_ref = np.stack([dec, -dec], axis=1)
        keep = np.abs(dec) >= 1e-3
    else:
        scores_ref = dec
        votes = np.zeros((len(pool), n_classes))
        k = 0
        for i in range(n_classes):
            for j in range(i + 1, n_classes):
                votes[:, i] += dec[:, k] > 0
                votes[:, j] += dec[:, k] <= 0
                k += 1
        top = np.sort(votes, axis=1)
        keep = (np.abs(dec).min(axis=1) >= 1e-3) & (top[:, -1] > top[:, -2])
    return dict(name=name, kind="svm", description=description, model=model,
                feeds={"float_input": pool}, n_edge=n_edge,
                expected=[(label, np.asarray(pred, dtype=np.int64)), (scores, scores_ref)], keep=keep,
                tolerance=TOL,
                reference="scikit-learn SVC.decision_function (decision_function_shape='ovo') / predict",
                notes=["labels compare exactly; rows with a pairwise decision value within 1e-3 of 0 "
                       "or tied votes were left out"] + (
                    ["binary scores follow onnxruntime: [d, -d] with d = decision_function "
                     "(column 0 is the scikit-learn decision value)"] if n_classes == 2 else
                    ["scores are the 3 pairwise one-vs-one decision values (0,1), (0,2), (1,2)"]))


@case
def svm_classifier():
    return _svc_case("svm_classifier", 3, 22,
                     "SVC rbf, probability=False, 3 classes one-vs-one: SVMClassifier (libsvm layout, "
                     "vectors_per_class); outputs label and the 3 pairwise decision values")


@case
def svm_classifier_binary():
    return _svc_case("svm_classifier_binary", 2, 23,
                     "SVC rbf, probability=False, binary: SVMClassifier with negated dual_coef_ / "
                     "intercept_ (skl2onnx); outputs label and [N,2] scores")


@case
def svm_regressor():
    from sklearn.svm import SVR
    X, y = _regression_data(24, n=400, features=5, noise=5.0)
    y = y / np.std(y)
    Xtr, ytr, Xte = split(X, y)
    svr = SVR(kernel="rbf", C=10.0, epsilon=0.05, gamma="scale").fit(Xtr, ytr)
    pool, n_edge = numeric_pool(Xtr, Xte)
    g = Graph()
    conv_svr(g, svr, "float_input")
    model = finish(g, "SVR", [tensor_vi("float_input", TensorProto.FLOAT, [None, 5])],
                   [tensor_vi("variable", TensorProto.FLOAT, [None, 1])])
    return _regression_case("svm_regressor", "SVR rbf C=10: SVMRegressor (n_supports, RBF kernel_params)",
                            model, "float_input", pool, n_edge, svr.predict(as64(pool)),
                            "scikit-learn SVR.predict", "svm", tolerance=TOL)


@case
def linear_svr():
    from sklearn.svm import LinearSVR
    X, y = _regression_data(25, n=500, features=5, noise=2.0)
    y = y / np.std(y)
    Xtr, ytr, Xte = split(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lsvr = LinearSVR(C=1.0, epsilon=0.0, max_iter=20000, random_state=0).fit(Xtr, ytr)
    pool, n_edge = numeric_pool(Xtr, Xte)
    g = Graph()
    conv_linear_svr(g, lsvr, "float_input")
    model = finish(g, "LinearSVR", [tensor_vi("float_input", TensorProto.FLOAT, [None, 5])],
                   [tensor_vi("variable", TensorProto.FLOAT, [None, 1])])
    return _regression_case("linear_svr",
                            "LinearSVR: SVMRegressor with kernel_type LINEAR, one 'support vector' = coef_, "
                            "coefficients=[1], rho=[intercept_]",
                            model, "float_input", pool, n_edge, lsvr.predict(as64(pool)),
                            "scikit-learn LinearSVR.predict", "svm", tolerance=TOL)


def _linreg():
    from sklearn.linear_model import LinearRegression
    X, y = _regression_data(26, n=400, features=5, noise=1.0, targets=2)
    Xtr, ytr, Xte = split(X, y)
    lin = LinearRegression().fit(Xtr, ytr)
    pool, n_edge = numeric_pool(Xtr, Xte)
    return lin, pool, n_edge


@case
def linreg():
    lin, pool, n_edge = _linreg()
    g = Graph()
    conv_linear_regression(g, lin, "float_input")
    model = finish(g, "LinearRegression", [tensor_vi("float_input", TensorProto.FLOAT, [None, 5])],
                   [tensor_vi("variable", TensorProto.FLOAT, [None, 2])])
    return _regression_case("linreg", "LinearRegression with 2 targets: LinearRegressor(targets=2)",
                            model, "float_input", pool, n_edge, lin.predict(as64(pool)),
                            "scikit-learn LinearRegression.predict", "linear")


@case
def linreg_double():
    lin, pool, n_edge = _linreg()
    rng = np.random.RandomState(27)
    pool = as64(pool) + rng.uniform(-1e-3, 1e-3, size=pool.shape)  # genuinely double inputs
    g = Graph()
    conv_linear_regression_double(g, lin, "X")
    model = finish(g, "LinearRegression", [tensor_vi("X", TensorProto.DOUBLE, [None, 5])],
                   [tensor_vi("variable", TensorProto.DOUBLE, [None, 2])])
    return _regression_case("linreg_double",
                            "LinearRegression with 2 targets, DOUBLE input: MatMul + Add in double "
                            "(skl2onnx's layout for DoubleTensorType)",
                            model, "X", pool, n_edge, lin.predict(pool),
                            "scikit-learn LinearRegression.predict (float64)", "linear",
                            tolerance={"abs": 1e-9, "rel": 1e-9})


@case
def mixed_categorical():
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder
    rng = np.random.RandomState(28)
    devices = np.array(["desktop", "mobile", "tablet", "tv"], dtype=object)
    n = 800 + POOL
    dev = devices[rng.choice(4, size=n, p=[0.4, 0.35, 0.15, 0.1])]
    num = f32(rng.randn(n, 3) * np.array([1.0, 2.0, 0.5]) + np.array([0.0, 1.0, -1.0]))
    logit = (num[:, 0] - 0.5 * num[:, 1] + 2.0 * num[:, 2] + 2.0
             + np.select([dev == "mobile", dev == "tablet", dev == "tv"], [1.0, -0.5, -1.5], 0.0))
    y = (logit + rng.logistic(size=n) > 0).astype(np.int64)
    num = _with_nans(num, 0.1, rng)
    Xobj = np.empty((n, 4), dtype=object)
    Xobj[:, 0] = dev
    Xobj[:, 1:] = num.astype(np.float64)
    Xtr, ytr, Xte = split(Xobj, y)
    pipe = Pipeline([
        ("columns", ColumnTransformer([
            ("device", OneHotEncoder(handle_unknown="ignore", sparse_output=False), [0]),
            ("numeric", SimpleImputer(strategy="mean"), [1, 2, 3])])),
        ("lr", LogisticRegression(max_iter=1000))]).fit(Xtr, ytr)
    edges = []
    for d, values in [("desktop", [0.0, 0.0, 0.0]), ("watch", [0.5, 1.0, -1.0]),
                      ("", [np.nan, np.nan, np.nan]), ("mobile", [np.nan, 2.0, np.nan]),
                      ("tv", [4.0, -6.0, 1.0]), ("Mobile", [0.1, 0.2, 0.3]), ("tablet", [-3.0, np.nan, 0.0])]:
        edges.append([d] + [float(np.float32(v)) for v in values])
    pool_obj = np.vstack([np.array(edges, dtype=object), Xte])
    dev_pool = np.array(pool_obj[:, 0], dtype=object).reshape(-1, 1)
    num_pool = f32(pool_obj[:, 1:].astype(np.float64))
    ohe = pipe.named_steps["columns"].named_transformers_["device"]
    imp = pipe.named_steps["columns"].named_transformers_["numeric"]
    lr = pipe.named_steps["lr"]
    g = Graph()
    g.init("device_index", TensorProto.INT64, [1], [0])
    g.node("Gather", ["device", "device_index"], ["device_column"], axis=1)
    g.node("OneHotEncoder", ["device_column"], ["device_onehot3d"], domain=ML,
           cats_strings=[str(c) for c in ohe.categories_[0]], zeros=1)
    g.node("Concat", ["device_onehot3d"], ["concat_result"], axis=-1)
    g.init("onehot_shape", TensorProto.INT64, [2], [-1, len(ohe.categories_[0])])
    g.node("Reshape", ["concat_result", "onehot_shape"], ["device_onehot"])
    g.node("Imputer", ["numeric"], ["numeric_imputed"], domain=ML,
           imputed_value_floats=fl(imp.statistics_), replaced_value_float=float("nan"))
    g.node("Concat", ["device_onehot", "numeric_imputed"], ["merged_columns"], axis=1)
    label, proba = conv_logistic_regression(g, lr, "merged_columns")
    outs = classifier_outputs(g, label, proba, lr.classes_, True)
    model = finish(g, "pipeline", [tensor_vi("device", TensorProto.STRING, [None, 1]),
                                   tensor_vi("numeric", TensorProto.FLOAT, [None, 3])], outs)
    proba_ref = pipe.predict_proba(pool_obj)
    pred = pipe.predict(pool_obj)
    c = classifier_case("mixed_categorical",
                        "ColumnTransformer(OneHotEncoder(handle_unknown='ignore') on string 'device', "
                        "SimpleImputer(mean) on 3 numerics) + LogisticRegression: Gather -> OneHotEncoder"
                        "(cats_strings, zeros=1) -> Concat -> Reshape, Imputer(NaN), Concat(axis=1), "
                        "LinearClassifier, Cast + ZipMap",
                        model, "device", dev_pool, len(edges), proba_ref, pred, lr.classes_, True,
                        "scikit-learn Pipeline(ColumnTransformer, LogisticRegression).predict_proba / predict",
                        "pipeline",
                        notes=["test rows include unseen categories ('watch', '', 'Mobile') -> all-zero "
                               "one-hot, and NaN numerics (JSON string \"NaN\") -> imputed"])
    c["feeds"] = {"device": dev_pool, "numeric": num_pool}
    return c


@case
def preprocess_numeric():
    from sklearn.preprocessing import Binarizer, Normalizer
    rng = np.random.RandomState(29)
    edges = f32([[0, 0, 0, 0], [0.5, 0.5, 0.5, 0.5], [-1, -2, -3, -4], [1, 0, 0, 0], [-5, 1, 0.25, 2],
                 [1e-3, -1e-3, 1e3, 0.75]])
    pool = f32(np.vstack([edges, rng.randn(POOL, 4) * 2.0]))
    offset = f32([0.5, -1.0, 2.0, 0.0])
    scale = f32([2.0, 0.5, 0.25, 1.5])
    x = as64(pool)
    g = Graph()
    g.node("Binarizer", ["X"], ["binarized"], domain=ML, threshold=0.5)
    g.node("Normalizer", ["X"], ["l1_normalized"], domain=ML, norm="L1")
    g.node("Normalizer", ["X"], ["l2_normalized"], domain=ML, norm="L2")
    g.node("Abs", ["X"], ["abs_x"])
    g.node("Normalizer", ["abs_x"], ["max_normalized"], domain=ML, norm="MAX")
    g.node("Scaler", ["X"], ["scaled"], domain=ML, offset=fl(offset), scale=fl(scale))
    g.init("column_indices", TensorProto.INT64, [2], [2, 0])
    g.node("ArrayFeatureExtractor", ["X", "column_indices"], ["selected"], domain=ML)
    g.node("FeatureVectorizer", ["selected", "binarized"], ["features"], domain=ML, inputdimensions=[2, 4])
    names = ["binarized", "l1_normalized", "l2_normalized", "max_normalized", "scaled", "selected", "features"]
    widths = [4, 4, 4, 4, 4, 2, 6]
    model = finish(g, "preprocess_numeric", [tensor_vi("X", TensorProto.FLOAT, [None, 4])],
                   [tensor_vi(n, TensorProto.FLOAT, [None, w]) for n, w in zip(names, widths)],
                   producer=HANDMADE)
    binarized = Binarizer(threshold=0.5).transform(x)
    expected = [
        ("binarized", binarized),
        ("l1_normalized", Normalizer(norm="l1").transform(x)),
        ("l2_normalized", Normalizer(norm="l2").transform(x)),
        ("max_normalized", Normalizer(norm="max").transform(np.abs(x))),
        ("scaled", (x - as64(offset)) * as64(scale)),
        ("selected", x[:, [2, 0]]),
        ("features", np.hstack([x[:, [2, 0]], binarized])),
    ]
    return dict(name="preprocess_numeric", kind="preprocessing",
                description="Binarizer(0.5), Normalizer L1 / L2 / MAX (MAX on Abs(X)), Scaler, "
                            "ArrayFeatureExtractor(columns [2, 0]), FeatureVectorizer(selected, binarized)",
                model=model, feeds={"X": pool}, n_edge=len(edges), expected=expected,
                keep=np.ones(len(pool), dtype=bool), tolerance={"abs": 1e-5, "rel": 1e-5},
                reference="scikit-learn Binarizer / Normalizer and numpy",
                notes=["Normalizer MAX is fed |X|: the spec divides by the signed max(x_i), scikit-learn "
                       "by max |x_i|, which agree on non-negative rows", "an all-zero row is returned "
                       "unchanged by every Normalizer", "0.5 is not > 0.5: Binarizer gives 0"])


@case
def preprocess_categorical():
    rng = np.random.RandomState(30)
    color_keys = ["red", "green", "blue", "cyan"]
    color_ids = [0, 1, 2, 7]
    code_keys = [1, 2, 3, 10]
    code_names = ["one", "two", "three", "ten"]
    group_strings = ["red", "green", "blue"]
    group_ints = [100, 200, 300]
    label_strings = ["low", "mid", "high"]
    label_ints = [1, 2, 3]
    color_edges = ["red", "purple", "", "RED", "cyan", "blue "]
    code_edges = [1, 0, -7, 10, 999999999999, 3]
    colors = color_edges + list(rng.choice(color_keys + ["magenta", "black"], size=POOL))
    codes = code_edges + list(rng.choice([1, 2, 3, 10, 4, -1, 0], size=POOL))
    color_pool = np.array(colors, dtype=object).reshape(-1, 1)
    code_pool = np.array(codes, dtype=np.int64).reshape(-1, 1)
    g = Graph()
    g.node("LabelEncoder", ["color"], ["color_id"], domain=ML,
           keys_strings=color_keys, values_int64s=color_ids, default_int64=-1)
    g.node("LabelEncoder", ["code"], ["code_name"], domain=ML,
           keys_int64s=code_keys, values_strings=code_names, default_string="unknown")
    g.node("CategoryMapper", ["color"], ["color_group"], domain=ML,
           cats_strings=group_strings, cats_int64s=group_ints, default_int64=-5)
    g.node("CategoryMapper", ["code"], ["code_label"], domain=ML,
           cats_strings=label_strings, cats_int64s=label_ints, default_string="other")
    g.node("OneHotEncoder", ["code"], ["code_onehot"], domain=ML, cats_int64s=code_keys, zeros=1)
    model = finish(g, "preprocess_categorical",
                   [tensor_vi("color", TensorProto.STRING, [None, 1]),
                    tensor_vi("code", TensorProto.INT64, [None, 1])],
                   [tensor_vi("color_id", TensorProto.INT64, [None, 1]),
                    tensor_vi("code_name", TensorProto.STRING, [None, 1]),
                    tensor_vi("color_group", TensorProto.INT64, [None, 1]),
                    tensor_vi("code_label", TensorProto.STRING, [None, 1]),
                    tensor_vi("code_onehot", TensorProto.FLOAT, [None, 1, 4])],
                   ml_opset=2, producer=HANDMADE)
    cmap = dict(zip(color_keys, color_ids))
    nmap = dict(zip(code_keys, code_names))
    gmap = dict(zip(group_strings, group_ints))
    lmap = dict(zip(label_ints, label_strings))
    onehot = np.array([[[1.0 if c == k else 0.0 for k in code_keys]] for c in codes])
    expected = [
        ("color_id", np.array([[cmap.get(c, -1)] for c in colors], dtype=np.int64)),
        ("code_name", np.array([[nmap.get(int(c), "unknown")] for c in codes], dtype=object)),
        ("color_group", np.array([[gmap.get(c, -5)] for c in colors], dtype=np.int64)),
        ("code_label", np.array([[lmap.get(int(c), "other")] for c in codes], dtype=object)),
        ("code_onehot", onehot),
    ]
    return dict(name="preprocess_categorical", kind="preprocessing",
                description="LabelEncoder string->int64 and int64->string with defaults (ai.onnx.ml opset "
                            "2), CategoryMapper both directions with defaults, OneHotEncoder(cats_int64s, "
                            "zeros=1) giving [N,1,4]",
                model=model, feeds={"color": color_pool, "code": code_pool}, n_edge=len(color_edges),
                expected=expected, keep=np.ones(len(colors), dtype=bool), tolerance={"abs": 0.0, "rel": 0.0},
                reference="plain Python dictionaries",
                notes=["all outputs compare exactly; unknown keys ('purple', '', 'RED', 'blue ', 0, -7, "
                       "999999999999) map to the defaults"])


# --- benchmark-sized models --------------------------------------------------

def _bench_data(seed, n=1200):
    from sklearn.datasets import make_classification
    X, y = make_classification(n_samples=n + POOL, n_features=32, n_informative=16, n_redundant=4,
                               random_state=seed)
    return split(f32(X), y)


@case
def bench_linear32():
    from sklearn.linear_model import LogisticRegression
    Xtr, ytr, Xte = _bench_data(31, 2000)
    lr = LogisticRegression(max_iter=2000).fit(Xtr, ytr)
    pool, n_edge = numeric_pool(Xtr, Xte)
    g = Graph()
    label, proba = conv_logistic_regression(g, lr, "float_input")
    outs = classifier_outputs(g, label, proba, lr.classes_, False)
    model = finish(g, "LogisticRegression", [tensor_vi("float_input", TensorProto.FLOAT, [None, 32])], outs)
    return classifier_case("bench_linear32", "Benchmark: LogisticRegression, 32 features, binary, no ZipMap",
                           model, "float_input", pool, n_edge, lr.predict_proba(as64(pool)),
                           lr.predict(as64(pool)), lr.classes_, False,
                           "scikit-learn LogisticRegression.predict_proba / predict", "bench")


@case
def bench_gbdt100():
    from sklearn.ensemble import GradientBoostingClassifier
    Xtr, ytr, Xte = _bench_data(32)
    gb = GradientBoostingClassifier(n_estimators=100, max_depth=5, learning_rate=0.1,
                                    random_state=0).fit(Xtr, ytr)
    pool, n_edge = numeric_pool(Xtr, Xte)
    g = Graph()
    label, proba = conv_gradient_boosting_classifier(g, gb, "float_input", 32)
    outs = classifier_outputs(g, label, proba, gb.classes_, False)
    model = finish(g, "GradientBoostingClassifier", [tensor_vi("float_input", TensorProto.FLOAT, [None, 32])],
                   outs)
    pool, n_edge = with_threshold_rows(pool, n_edge, model)
    return classifier_case("bench_gbdt100",
                           "Benchmark: GradientBoostingClassifier 100 trees depth 5, 32 features, binary "
                           "(TreeEnsembleClassifier, LOGISTIC, base value), no ZipMap",
                           model, "float_input", pool, n_edge, gb.predict_proba(as64(pool)),
                           gb.predict(as64(pool)), gb.classes_, False,
                           "scikit-learn GradientBoostingClassifier.predict_proba / predict", "bench")


@case
def bench_rf50():
    from sklearn.ensemble import RandomForestClassifier
    Xtr, ytr, Xte = _bench_data(33)
    rf = RandomForestClassifier(n_estimators=50, max_depth=8, random_state=0, n_jobs=1).fit(Xtr, ytr)
    pool, n_edge = numeric_pool(Xtr, Xte)
    g = Graph()
    label, proba = conv_random_forest_classifier(g, rf, "float_input")
    outs = classifier_outputs(g, label, proba, rf.classes_, False)
    model = finish(g, "RandomForestClassifier", [tensor_vi("float_input", TensorProto.FLOAT, [None, 32])], outs)
    pool, n_edge = with_threshold_rows(pool, n_edge, model)
    return classifier_case("bench_rf50",
                           "Benchmark: RandomForestClassifier 50 trees depth 8, 32 features, binary "
                           "(one class_id-0 probability column: label = p > 0.5, scores [1-p, p]), no ZipMap",
                           model, "float_input", pool, n_edge, rf.predict_proba(as64(pool)),
                           rf.predict(as64(pool)), rf.classes_, False,
                           "scikit-learn RandomForestClassifier.predict_proba / predict", "bench")


@case
def bench_mlp():
    from sklearn.neural_network import MLPClassifier
    Xtr, ytr, Xte = _bench_data(34)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp = MLPClassifier(hidden_layer_sizes=(64, 32), activation="relu", max_iter=150,
                            random_state=0).fit(Xtr, ytr)
    pool, n_edge = numeric_pool(Xtr, Xte)
    g = Graph()
    label, proba = conv_mlp_classifier(g, mlp, "float_input", two_unit_softmax=True)
    outs = classifier_outputs(g, label, proba, mlp.classes_, False)
    model = finish(g, "MLPClassifier", [tensor_vi("float_input", TensorProto.FLOAT, [None, 32])], outs)
    return classifier_case("bench_mlp",
                           "Benchmark: MLPClassifier 32-64-32-2 relu: MatMul/Add/Relu x2, MatMul/Add, Softmax "
                           "(the binary logistic unit rewritten as 2 softmax units [0, z]), ArgMax label path",
                           model, "float_input", pool, n_edge, mlp.predict_proba(as64(pool)),
                           mlp.predict(as64(pool)), mlp.classes_, False,
                           "scikit-learn MLPClassifier.predict_proba / predict", "bench")


@case
def bench_xgb100():
    import xgboost as xgb
    Xtr, ytr, Xte = _bench_data(35)
    model = xgb.XGBClassifier(n_estimators=100, max_depth=5, learning_rate=0.1, tree_method="exact",
                              n_jobs=1, random_state=0).fit(Xtr, ytr)
    pool, n_edge = numeric_pool(Xtr, Xte)
    g = Graph()
    label, proba = conv_xgb_classifier(g, model, "float_input")
    outs = classifier_outputs(g, label, proba, model.classes_, False)
    onx = finish(g, "XGBClassifier", [tensor_vi("float_input", TensorProto.FLOAT, [None, 32])], outs,
                 producer=ONNXMLTOOLS)
    pool, n_edge = with_threshold_rows(pool, n_edge, onx)
    proba_ref = model.predict_proba(pool)
    return classifier_case("bench_xgb100",
                           "Benchmark: XGBClassifier 100 trees depth 5, 32 features, default base_score 0.5 "
                           "(no base_values), BRANCH_LT, LOGISTIC",
                           onx, "float_input", pool, n_edge, proba_ref, model.predict(pool), model.classes_,
                           False, "XGBoost 1.7.4 XGBClassifier.predict_proba / predict", "bench")


# --- hand-built TreeEnsemble models (reference: onnx_ml_reference) ------------

def build_trees(trees, weight_prefix):
    """Turn nested tree specs into TreeEnsemble attributes.

    A tree is ('leaf', [(id, weight), ...]) or
    ('node', feature, mode, threshold, true_subtree, false_subtree[, missing_tracks_true]).
    Node ids are numbered breadth-first while the attribute lists are written
    depth-first (root first), so node ids are not positions; leaf weights are
    written in reverse order.  Engines must not rely on either order."""
    attrs = tree_attr_lists(weight_prefix)
    weights = []
    for tree_id, root in enumerate(trees):
        ids, queue = {}, [root]
        while queue:
            n = queue.pop(0)
            ids[id(n)] = len(ids)
            if n[0] == "node":
                queue += [n[4], n[5]]

        def emit(n):
            attrs["nodes_treeids"].append(tree_id)
            attrs["nodes_nodeids"].append(ids[id(n)])
            attrs["nodes_hitrates"].append(1.0)
            if n[0] == "node":
                attrs["nodes_featureids"].append(n[1])
                attrs["nodes_modes"].append(n[2])
                attrs["nodes_values"].append(float(n[3]))
                attrs["nodes_truenodeids"].append(ids[id(n[4])])
                attrs["nodes_falsenodeids"].append(ids[id(n[5])])
                attrs["nodes_missing_value_tracks_true"].append(n[6] if len(n) > 6 else 0)
                emit(n[4])
                emit(n[5])
            else:
                attrs["nodes_featureids"].append(0)
                attrs["nodes_modes"].append("LEAF")
                attrs["nodes_values"].append(0.0)
                attrs["nodes_truenodeids"].append(0)
                attrs["nodes_falsenodeids"].append(0)
                attrs["nodes_missing_value_tracks_true"].append(0)
                for k, w in n[1]:
                    weights.append((tree_id, ids[id(n)], k, float(w)))

        emit(root)
    for t, nid, k, w in reversed(weights):
        attrs[weight_prefix + "_treeids"].append(t)
        attrs[weight_prefix + "_nodeids"].append(nid)
        attrs[weight_prefix + "_ids"].append(k)
        attrs[weight_prefix + "_weights"].append(w)
    return attrs


def L(*weights):
    """Leaf with weights for ids 0, 1, ... (None = no weight for that id)."""
    return ("leaf", [(k, w) for k, w in enumerate(weights) if w is not None])


def N(feature, mode, threshold, t, f, missing=0):
    return ("node", feature, mode, threshold, t, f, missing)


def raw_score_keep(model, feeds, output="probabilities"):
    """Rows whose two highest *raw* class scores (post_transform forced to
    NONE) differ by at least 1e-4, i.e. no label ties."""
    raw = ref.run_model(_with_post(model, "NONE"), feeds)[output]
    return top_gap(raw) >= 1e-4


def reference_case(name, kind, description, model, feeds, n_edge, tolerance=None, notes=(), keep=None):
    """Expected outputs of a hand-built model come from onnx_ml_reference."""
    outs = ref.run_model(model, feeds)
    expected = []
    for o in model.graph.output:
        v = outs[o.name]
        expected.append((o.name, v))
    n = len(next(iter(feeds.values())))
    return dict(name=name, kind=kind, description=description, model=model, feeds=feeds, n_edge=n_edge,
                expected=expected, keep=np.ones(n, dtype=bool) if keep is None else keep,
                tolerance=tolerance or {"abs": 1e-5, "rel": 1e-5},
                reference="onnx_ml_reference.py (ONNX-ML spec; onnxruntime's rules where the spec is silent)",
                notes=list(notes), crosscheck=False)


F32_ONE_DOWN = float(np.nextafter(f32(1.0), f32(0.0)))
F32_ONE_UP = float(np.nextafter(f32(1.0), f32(2.0)))
F32_TWO_DOWN = float(np.nextafter(f32(2.0), f32(0.0)))
F32_TWO_UP = float(np.nextafter(f32(2.0), f32(3.0)))
BRANCH_VALUES = [0.0, 0.5, 1.0, 2.0, 3.0, -1.0, 1.5, F32_ONE_DOWN, F32_ONE_UP, F32_TWO_DOWN, F32_TWO_UP,
                 float(np.nextafter(f32(0.5), f32(0.0)))]


def _branch_pool(rng, n_features, nan_rate=0.0):
    edges = [[v] * n_features for v in (1.0, 2.0, 0.5, 0.0)]
    if nan_rate:
        edges += [[math.nan] * n_features, [math.nan, 1.0] * (n_features // 2)]
    rows = rng.choice(BRANCH_VALUES, size=(POOL, n_features))
    if nan_rate:
        rows[rng.rand(*rows.shape) < nan_rate] = np.nan
    return f32(np.vstack([np.array(edges, dtype=np.float64), rows])), len(edges)


@case
def tree_modes_branches():
    modes = ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"]
    trees = []
    for t, mode in enumerate(modes):
        base = 2.0 ** (3 * t)
        trees.append(N(t % 4, mode, 1.0,
                       N((t + 1) % 4, mode, 2.0, L(base), L(2 * base)),
                       L(4 * base)))
    attrs = build_trees(trees, "target")
    attrs.update(n_targets=1, aggregate_function="SUM", post_transform="NONE", base_values=[0.25])
    g = Graph()
    g.node("TreeEnsembleRegressor", ["X"], ["variable"], domain=ML, **attrs)
    model = finish(g, "tree_modes_branches", [tensor_vi("X", TensorProto.FLOAT, [None, 4])],
                   [tensor_vi("variable", TensorProto.FLOAT, [None, 1])], producer=HANDMADE)
    # Hand-checked row, every feature 1.0: LEQ 1<=1 T, 1<=2 T -> 1; LT 1<1 F -> 4*8;
    # GTE 1>=1 T, 1>=2 F -> 2*64; GT 1>1 F -> 4*512; EQ 1==1 T, 1==2 F -> 2*4096;
    # NEQ 1!=1 F -> 4*32768; plus base 0.25.
    row = [1.0, 1.0, 1.0, 1.0]
    expect = 0.25 + 1 + 4 * 8 + 2 * 64 + 4 * 512 + 2 * 4096 + 4 * 32768
    got = ref.run_model(model, {"X": f32([row])})["variable"][0, 0]
    assert got == expect, (got, expect)
    pool, n_edge = _branch_pool(np.random.RandomState(40), 4)
    return reference_case("tree_modes_branches", "tree",
                          "TreeEnsembleRegressor, 6 depth-2 trees, one per BRANCH_LEQ/LT/GTE/GT/EQ/NEQ, "
                          "thresholds 1 and 2, power-of-two leaves (the sum encodes every path), "
                          "base_values [0.25]; inputs hit thresholds exactly and their float32 neighbours",
                          model, {"X": pool}, n_edge, tolerance={"abs": 1e-6, "rel": 0.0},
                          notes=["all outputs are exact in float32"])


@case
def tree_modes_missing():
    # Mixed modes inside each tree; NEQ nodes always track missing values to the
    # true side (see _branch_taken: NaN != t is true under IEEE rules anyway).
    trees = [
        N(0, "BRANCH_LEQ", 1.0,
          N(1, "BRANCH_LT", 2.0, L(1, None), L(2, 16), missing=1),
          N(2, "BRANCH_GTE", 0.5, L(4, None), L(None, 32), missing=0), missing=1),
        N(1, "BRANCH_GT", 1.0,
          N(3, "BRANCH_EQ", 2.0, L(64, 1), L(128, 2), missing=1),
          N(0, "BRANCH_NEQ", 0.0, L(256, None), L(None, 4), missing=1), missing=0),
        N(2, "BRANCH_EQ", 1.0, L(512, 8), N(3, "BRANCH_LEQ", 0.5, L(1024, None), L(2048, 64), missing=0),
          missing=0),
    ]
    attrs = build_trees(trees, "target")
    attrs.update(n_targets=2, aggregate_function="SUM", post_transform="NONE", base_values=[1.0, -1.0])
    g = Graph()
    g.node("TreeEnsembleRegressor", ["X"], ["variable"], domain=ML, **attrs)
    model = finish(g, "tree_modes_missing", [tensor_vi("X", TensorProto.FLOAT, [None, 4])],
                   [tensor_vi("variable", TensorProto.FLOAT, [None, 2])], producer=HANDMADE)
    got = ref.run_model(model, {"X": f32([[math.nan] * 4])})["variable"][0].tolist()
    # NaN everywhere: tree0 root tracks->true, LT tracks->true: (1, -) ; tree1 GT no track->false,
    # NEQ tracks->true: (256, -) ; tree2 EQ no track->false, LEQ no track->false: (2048, 64).
    assert got == [1.0 + 1 + 256 + 2048, -1.0 + 64], got
    pool, n_edge = _branch_pool(np.random.RandomState(41), 4, nan_rate=0.25)
    return reference_case("tree_modes_missing", "tree",
                          "TreeEnsembleRegressor, 2 targets with sparse leaf weights, modes mixed inside "
                          "each tree, nodes_missing_value_tracks_true mixed, NaN inputs, base_values",
                          model, {"X": pool}, n_edge, tolerance={"abs": 1e-6, "rel": 0.0},
                          notes=["inputs contain NaN (JSON string \"NaN\")", "a target a leaf has no weight for gets "
                                 "nothing from that tree", "NaN reaches BRANCH_NEQ only where the node "
                                 "tracks missing values to the true side (IEEE NaN != t is true, which "
                                 "contradicts tracks_true = 0; that combination is not tested)"])


def _agg_trees(dense):
    """Three trees over 3 features, 2 targets.  In the sparse variant some
    leaves carry a weight for one target only; the dense variant fills those
    gaps (MIN / MAX need every tree to vote for every target to be
    unambiguous)."""
    def leaf(a, b, fill_a=2.5, fill_b=-0.5):
        if dense:
            return L(fill_a if a is None else a, fill_b if b is None else b)
        return L(a, b)

    return [
        N(0, "BRANCH_LEQ", 0.0,
          N(1, "BRANCH_LEQ", 0.5, leaf(1.5, -2.0), leaf(-0.75, None, fill_b=0.25)),
          leaf(3.0, 1.0)),
        N(1, "BRANCH_LEQ", -0.5,
          leaf(None, 4.0),
          N(2, "BRANCH_LEQ", 0.25, leaf(-1.25, -3.0), leaf(0.5, 2.0))),
        N(2, "BRANCH_LEQ", 1.0,
          N(0, "BRANCH_LEQ", -1.0, leaf(2.25, None), leaf(-2.5, 1.5)),
          leaf(0.125, -1.0)),
    ]


def _uniform_pool(rng, n_features, low=-2.0, high=2.0, edges=()):
    edges = [list(e) for e in edges] or [[0.0] * n_features, [high] * n_features, [low] * n_features]
    rows = rng.uniform(low, high, size=(POOL, n_features))
    return f32(np.vstack([np.array(edges, dtype=np.float64), rows])), len(edges)


def _agg_case(agg, dense):
    attrs = build_trees(_agg_trees(dense), "target")
    attrs.update(n_targets=2, aggregate_function=agg, post_transform="NONE", base_values=[0.5, -0.5])
    g = Graph()
    g.node("TreeEnsembleRegressor", ["X"], ["variable"], domain=ML, **attrs)
    name = "tree_modes_agg_" + agg.lower()
    model = finish(g, name, [tensor_vi("X", TensorProto.FLOAT, [None, 3])],
                   [tensor_vi("variable", TensorProto.FLOAT, [None, 2])], producer=HANDMADE)
    pool, n_edge = _uniform_pool(np.random.RandomState(42), 3)
    return reference_case(name, "tree",
                          "TreeEnsembleRegressor aggregate_function=%s, 3 trees, 2 targets (%s leaf weights), "
                          "base_values [0.5, -0.5] added after aggregation" % (agg, "dense" if dense else "sparse"),
                          model, {"X": pool}, n_edge,
                          notes=["AVERAGE divides by the number of trees (3), also for a target some "
                                 "trees give no weight to"] if agg == "AVERAGE" else [])


@case
def tree_modes_agg_sum():
    return _agg_case("SUM", dense=False)


@case
def tree_modes_agg_average():
    return _agg_case("AVERAGE", dense=False)


@case
def tree_modes_agg_min():
    return _agg_case("MIN", dense=True)


@case
def tree_modes_agg_max():
    return _agg_case("MAX", dense=True)


def _post_case(post):
    """TreeEnsembleRegressor (3 targets) and TreeEnsembleClassifier (3 classes,
    int64 labels 10/20/30) side by side with the same post_transform."""
    probit = post == "PROBIT"
    sparse = post in ("SOFTMAX_ZERO", "NONE")
    s = 0.1 if probit else 1.0

    def leaf(a, b, c):
        if sparse:
            return L(a, b, c)
        return L(*(0.05 if v is None else v for v in (a, b, c)))

    trees = [
        N(0, "BRANCH_LEQ", 0.0, leaf(2 * s, None, 0.5 * s), leaf(None, 1.5 * s, 1.0 * s)),
        N(1, "BRANCH_LEQ", 0.5, N(2, "BRANCH_LEQ", -0.5, leaf(1.0 * s, 0.25 * s, None), leaf(0.5 * s, None, 2.0 * s)),
          leaf(None, 2.5 * s, None)),
        N(2, "BRANCH_GT", 1.0, leaf(0.75 * s, 0.5 * s, 1.25 * s), leaf(0.25 * s, None, None)),
    ]
    reg = build_trees(trees, "target")
    reg.update(n_targets=3, aggregate_function="SUM", post_transform=post)
    cls = build_trees(trees, "class")
    cls.update(classlabels_int64s=[10, 20, 30], post_transform=post)
    if not sparse:
        reg["base_values"] = [0.05, 0.0, -0.05] if not probit else [0.05, 0.1, 0.02]
        cls["base_values"] = [0.02, 0.1, 0.0] if probit else [-0.5, 0.25, 0.0]
    g = Graph()
    g.node("TreeEnsembleRegressor", ["X"], ["variable"], domain=ML, **reg)
    g.node("TreeEnsembleClassifier", ["X"], ["label", "probabilities"], domain=ML, **cls)
    name = "tree_modes_post_" + post.lower()
    model = finish(g, name, [tensor_vi("X", TensorProto.FLOAT, [None, 3])],
                   [tensor_vi("variable", TensorProto.FLOAT, [None, 3]), tensor_vi("label", TensorProto.INT64, [None]),
                    tensor_vi("probabilities", TensorProto.FLOAT, [None, 3])], producer=HANDMADE)
    pool, n_edge = _uniform_pool(np.random.RandomState(43), 3)
    notes = ["label = class with the highest raw score among the classes that received a score; "
             "raw scores are never tied here"]
    tolerance = None
    if sparse:
        notes.append("sparse leaf weights: a class / target without any weight has raw score 0%s"
                     % (" and SOFTMAX_ZERO output 0" if post == "SOFTMAX_ZERO" else ""))
    if probit:
        outs = ref.run_model(model, {"X": pool})
        diff = 0.0
        for key in ("variable", "probabilities"):
            raw = ref.run_model(_with_post(model, "NONE"), {"X": pool})[key]
            for r, p in zip(raw.ravel(), outs[key].ravel()):
                diff = max(diff, abs(ref.ort_probit_approx(r) - p))
        tolerance = {"abs": float("%.0e" % max(1e-5, 3 * diff)), "rel": 0.0}
        notes.append("PROBIT = sqrt(2) * erfinv(2x - 1) computed exactly; the tolerance (%g) also accepts "
                     "onnxruntime's Winitzki erfinv approximation (max deviation %.2g)" % (tolerance["abs"], diff))
    return reference_case(name, "tree",
                          "TreeEnsembleRegressor (3 targets) + TreeEnsembleClassifier (3 classes, labels "
                          "10/20/30), post_transform=%s%s" % (post, "" if sparse else ", base_values"),
                          model, {"X": pool}, n_edge, tolerance=tolerance, notes=notes,
                          keep=raw_score_keep(model, {"X": pool}))


def _with_post(model, post):
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for n in m.graph.node:
        for a in n.attribute:
            if a.name == "post_transform":
                a.s = post.encode()
    return m


@case
def tree_modes_post_none():
    return _post_case("NONE")


@case
def tree_modes_post_logistic():
    return _post_case("LOGISTIC")


@case
def tree_modes_post_softmax():
    return _post_case("SOFTMAX")


@case
def tree_modes_post_softmax_zero():
    return _post_case("SOFTMAX_ZERO")


@case
def tree_modes_post_probit():
    return _post_case("PROBIT")


def _binary_tree_case(name, trees, labels, post, base, description, notes):
    attrs = build_trees(trees, "class")
    is_str = isinstance(labels[0], str)
    attrs["classlabels_strings" if is_str else "classlabels_int64s"] = labels
    attrs["post_transform"] = post
    if base is not None:
        attrs["base_values"] = base
    g = Graph()
    g.node("TreeEnsembleClassifier", ["X"], ["label", "probabilities"], domain=ML, **attrs)
    model = finish(g, name, [tensor_vi("X", TensorProto.FLOAT, [None, 3])],
                   [tensor_vi("label", TensorProto.STRING if is_str else TensorProto.INT64, [None]),
                    tensor_vi("probabilities", TensorProto.FLOAT, [None, 2])], producer=HANDMADE)
    pool, n_edge = _uniform_pool(np.random.RandomState(44), 3)
    return reference_case(name, "tree", description, model, {"X": pool}, n_edge,
                          keep=raw_score_keep(model, {"X": pool}),
                          notes=["ONNX-ML binary case as onnxruntime implements it: one weight column "
                                 "(class_id 0) holding the positive-class score s"] + notes)


@case
def tree_modes_binary_probability():
    trees = [N(0, "BRANCH_LEQ", 0.0, N(1, "BRANCH_LEQ", 0.5, L(0.05), L(0.2)), L(0.45)),
             N(2, "BRANCH_LT", 0.3, L(0.1), N(0, "BRANCH_GT", 1.0, L(0.25), L(0.4)))]
    return _binary_tree_case("tree_modes_binary_probability", trees, [4, 9], "NONE", None,
                             "TreeEnsembleClassifier, 2 classes (labels 4/9), one class_id-0 column of "
                             "non-negative weights (random-forest style), post_transform NONE",
                             ["label = labels[1] if s > 0.5 else labels[0]; probabilities = [1 - s, s]",
                              "s is never 0.5 here"])


@case
def tree_modes_binary_margin_logistic():
    trees = [N(0, "BRANCH_LEQ", 0.0, N(1, "BRANCH_LEQ", 0.5, L(-1.5), L(0.75)), L(1.25)),
             N(2, "BRANCH_GTE", -0.3, L(-0.5), N(0, "BRANCH_LT", -1.0, L(0.875), L(-0.25))),
             N(1, "BRANCH_GT", 1.5, L(2.0), L(-0.125))]
    return _binary_tree_case("tree_modes_binary_margin_logistic", trees, ["neg", "pos"], "LOGISTIC", [0.0625],
                             "TreeEnsembleClassifier, 2 classes (string labels neg/pos), one class_id-0 "
                             "column of signed margins, base_values [0.0625], LOGISTIC (gradient-boosting "
                             "style)",
                             ["label = labels[1] if s > 0 else labels[0]; probabilities = "
                              "[logistic(-s), logistic(s)], s includes the base value", "s is never 0 here"])


@case
def tree_modes_binary_margin_none():
    trees = [N(0, "BRANCH_LEQ", 0.0, N(1, "BRANCH_LEQ", 0.5, L(-1.5), L(0.75)), L(1.25)),
             N(2, "BRANCH_GTE", -0.3, L(-0.5), N(0, "BRANCH_LT", -1.0, L(0.875), L(-0.375)))]
    return _binary_tree_case("tree_modes_binary_margin_none", trees, [0, 1], "NONE", None,
                             "TreeEnsembleClassifier, 2 classes (labels 0/1), one class_id-0 column of "
                             "signed margins, no base_values, post_transform NONE",
                             ["label = labels[1] if s > 0 else labels[0]; probabilities = [-s, s]",
                              "s is never 0 here"])


@case
def tree_modes_classifier_strings_v3():
    trees = [N(0, "BRANCH_LEQ", 0.1, N(1, "BRANCH_GT", -0.2, L(0.5, None, 1.25, None), L(None, 2.0, None, 0.75)),
               L(1.0, 0.25, None, 0.5)),
             N(1, "BRANCH_LEQ", 0.1, L(None, None, 0.5, 1.5), N(2, "BRANCH_NEQ", 0.3, L(2.0, 0.5, 0.25, None),
                                                                  L(0.125, 1.0, 0.5, 0.25)))]
    attrs = build_trees(trees, "class")
    attrs["classlabels_strings"] = ["cat", "dog", "emu", "fox"]
    attrs["post_transform"] = "SOFTMAX"
    attrs["base_values"] = [0.1, -0.1, 0.2, 0.0]
    as_double_tensors(attrs, ["nodes_values", "nodes_hitrates", "class_weights", "base_values"])
    g = Graph()
    g.node("TreeEnsembleClassifier", ["X"], ["label", "probabilities"], domain=ML, **attrs)
    model = finish(g, "tree_modes_classifier_strings_v3", [tensor_vi("X", TensorProto.DOUBLE, [None, 3])],
                   [tensor_vi("label", TensorProto.STRING, [None]),
                    tensor_vi("probabilities", TensorProto.FLOAT, [None, 4])], ml_opset=3, producer=HANDMADE)
    nxt = float(np.nextafter(0.1, 1.0))
    edges = [[0.1, 0.1, 0.3], [nxt, nxt, 0.3], [float(f32(0.1))] * 3, [0.1, -0.2, nxt], [0.0, 0.0, 0.0]]
    pool, n_edge = _uniform_pool(np.random.RandomState(45), 3, -1.0, 1.0, edges)
    pool = as64(pool)
    pool[:n_edge] = np.array(edges)
    return reference_case("tree_modes_classifier_strings_v3", "tree",
                          "TreeEnsembleClassifier ai.onnx.ml opset 3, DOUBLE input, double "
                          "nodes_values_as_tensor / class_weights_as_tensor / base_values_as_tensor, "
                          "4 string labels, SOFTMAX",
                          model, {"X": pool}, n_edge, keep=raw_score_keep(model, {"X": pool}),
                          notes=["thresholds such as 0.1 are compared in double: x = 0.1 takes LEQ's true "
                                 "branch, its double neighbour and float32(0.1) do not"])


# --- hand-built LinearClassifier models ----------------------------------------

def _linear_classifier_case(name, coefficients, intercepts, labels, post, multi_class, description,
                            n_features, notes=(), low=-2.0, high=2.0, tolerance=None):
    is_str = isinstance(labels[0], str)
    attrs = dict(coefficients=fl(coefficients), intercepts=fl(intercepts), post_transform=post,
                 multi_class=multi_class)
    attrs["classlabels_strings" if is_str else "classlabels_ints"] = labels
    g = Graph()
    g.node("LinearClassifier", ["X"], ["label", "probabilities"], domain=ML, **attrs)
    width = 2 if len(intercepts) == 1 else len(intercepts)
    model = finish(g, name, [tensor_vi("X", TensorProto.FLOAT, [None, n_features])],
                   [tensor_vi("label", TensorProto.STRING if is_str else TensorProto.INT64, [None]),
                    tensor_vi("probabilities", TensorProto.FLOAT, [None, width])], producer=HANDMADE)
    pool, n_edge = _uniform_pool(np.random.RandomState(46), n_features, low, high)
    return reference_case(name, "linear", description, model, {"X": pool}, n_edge, tolerance=tolerance,
                          keep=raw_score_keep(model, {"X": pool}),
                          notes=["label = class of the highest raw score (several rows) or raw > 0 (one row); "
                                 "rows with near-tied raw scores were left out"] + list(notes))


LC_COEF3 = [[0.5, -1.0, 0.25, 0.0], [-0.75, 0.5, 1.0, -0.5], [0.25, 0.25, -0.5, 1.0]]


@case
def linear_classifier_none():
    return _linear_classifier_case("linear_classifier_none", LC_COEF3, [0.1, -0.2, 0.3], [5, 6, 7], "NONE", 0,
                                   "LinearClassifier, 3 rows, int64 labels 5/6/7, post_transform NONE, "
                                   "multi_class=0", 4)


@case
def linear_classifier_logistic():
    return _linear_classifier_case("linear_classifier_logistic", LC_COEF3, [0.1, -0.2, 0.3], [0, 1, 2],
                                   "LOGISTIC", 0,
                                   "LinearClassifier, 3 rows, post_transform LOGISTIC (element-wise, not "
                                   "normalised), multi_class=0", 4)


@case
def linear_classifier_softmax():
    return _linear_classifier_case("linear_classifier_softmax", LC_COEF3, [0.1, -0.2, 0.3],
                                   ["alpha", "beta", "gamma"], "SOFTMAX", 1,
                                   "LinearClassifier, 3 rows, string labels, post_transform SOFTMAX, "
                                   "multi_class=1 (no effect on the result)", 4)


@case
def linear_classifier_softmax_zero():
    coef = LC_COEF3 + [[0.0, 0.0, 0.0, 0.0]]
    return _linear_classifier_case("linear_classifier_softmax_zero", coef, [0.1, -0.2, 0.3, 0.0],
                                   [1, 2, 3, 4], "SOFTMAX_ZERO", 0,
                                   "LinearClassifier, 4 rows where row 4 is all zero (raw score exactly 0), "
                                   "post_transform SOFTMAX_ZERO", 4,
                                   notes=["the zero score stays 0 and is left out of the softmax sum",
                                          "the label still considers the zero score (argmax of raw scores)"])


@case
def linear_classifier_probit():
    coef = [[0.1, -0.05, 0.08], [-0.1, 0.12, 0.05], [0.04, 0.06, -0.1]]
    c = _linear_classifier_case("linear_classifier_probit", coef, [0.5, 0.4, 0.6], [1, 2, 3], "PROBIT", 0,
                                "LinearClassifier, 3 rows, raw scores in (0, 1), post_transform PROBIT", 3,
                                low=-1.0, high=1.0)
    raw = ref.run_model(_with_post(c["model"], "NONE"), c["feeds"])["probabilities"]
    outs = dict(c["expected"])["probabilities"]
    diff = max(abs(ref.ort_probit_approx(r) - p) for r, p in zip(raw.ravel(), outs.ravel()))
    c["tolerance"] = {"abs": float("%.0e" % max(1e-5, 3 * diff)), "rel": 0.0}
    c["notes"].append("PROBIT = sqrt(2) * erfinv(2x - 1) computed exactly; the tolerance (%g) also accepts "
                      "onnxruntime's Winitzki erfinv approximation (max deviation %.2g)"
                      % (c["tolerance"]["abs"], diff))
    return c


@case
def linear_classifier_binary_single_ints():
    return _linear_classifier_case("linear_classifier_binary_single_ints", [[0.75, -0.5, 0.25]], [0.1], [3, 8],
                                   "NONE", 0,
                                   "LinearClassifier with ONE coefficient row and two int64 labels 3/8 "
                                   "(binary case)", 3,
                                   notes=["onnxruntime's rule: label = labels[1] if raw > 0 else labels[0]; "
                                          "probabilities = [1 - raw, raw] (post_transform NONE)"])


@case
def linear_classifier_binary_single_strings():
    return _linear_classifier_case("linear_classifier_binary_single_strings", [[-0.5, 1.0, 0.5]], [-0.2],
                                   ["no", "yes"], "NONE", 0,
                                   "LinearClassifier with ONE coefficient row and two string labels no/yes", 3,
                                   notes=["onnxruntime's rule: label = labels[1] if raw > 0 else labels[0]; "
                                          "probabilities = [1 - raw, raw] (post_transform NONE)"])


@case
def linear_classifier_binary_two_rows():
    w = [0.75, -0.5, 0.25]
    return _linear_classifier_case("linear_classifier_binary_two_rows", [[-v for v in w], w], [-0.1, 0.1],
                                   [0, 1], "LOGISTIC", 0,
                                   "LinearClassifier with two rows [-w, w] and LOGISTIC (skl2onnx's binary "
                                   "LogisticRegression layout): probabilities [sigmoid(-z), sigmoid(z)]", 3)


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------

ELEM_TO_KSERVE = {TensorProto.FLOAT: "FP32", TensorProto.DOUBLE: "FP64", TensorProto.INT64: "INT64",
                  TensorProto.INT32: "INT32", TensorProto.STRING: "BYTES", TensorProto.BOOL: "BOOL"}


def kserve_type(value_info):
    t = value_info.type
    if t.HasField("sequence_type"):
        return "SEQUENCE_MAP"
    return ELEM_TO_KSERVE[t.tensor_type.elem_type]


NAN_JSON = "NaN"  # how a NaN is spelled in the JSON bodies (see the module docstring)


def fp32_json(v):
    """Shortest decimal of a float32 value, checked to come back to the same
    float32 when parsed as a double and then narrowed (what a C++ reader of
    the request does); falls back to the exact double otherwise."""
    f = np.float32(v)
    d = float(str(f))
    return d if np.float32(d) == f else float(f)


def json_values(arr, datatype):
    flat = np.asarray(arr).ravel().tolist() if datatype != "SEQUENCE_MAP" else arr
    if datatype == "FP32":
        return [NAN_JSON if math.isnan(v) else fp32_json(v) for v in flat]
    if datatype == "FP64":
        return [NAN_JSON if math.isnan(v) else float(v) for v in flat]
    if datatype in ("INT64", "INT32"):
        return [int(v) for v in flat]
    if datatype == "BYTES":
        return [str(v) for v in flat]
    if datatype == "BOOL":
        return [bool(v) for v in flat]
    if datatype == "SEQUENCE_MAP":
        return [{str(k): float(p) for k, p in row.items()} for row in flat]
    raise ValueError(datatype)


def expected_values(arr, datatype):
    """Reference values: floats keep their full double value (not float32-rounded)."""
    if datatype == "FP32":
        return [NAN_JSON if math.isnan(v) else float(v) for v in np.asarray(arr, dtype=np.float64).ravel().tolist()]
    return json_values(arr, datatype)


def take(values, idx):
    if isinstance(values, list):
        return [values[i] for i in idx]
    return np.asarray(values)[idx]


def shape_of(values):
    if isinstance(values, list):
        return [len(values)]
    return list(np.asarray(values).shape)


def request_body(c, idx):
    inputs = []
    for vi in c["model"].graph.input:
        arr = take(c["feeds"][vi.name], idx)
        dt = kserve_type(vi)
        inputs.append({"name": vi.name, "shape": shape_of(arr), "datatype": dt, "data": json_values(arr, dt)})
    return {"inputs": inputs}


def expected_body(c, idx):
    outputs = []
    types = {o.name: kserve_type(o) for o in c["model"].graph.output}
    for name, values in c["expected"]:
        v = take(values, idx)
        outputs.append({"name": name, "datatype": types[name], "shape": shape_of(v),
                        "data": expected_values(v, types[name])})
    return {"outputs": outputs, "tolerance": c["tolerance"]}


def interpreter_body(c, idx):
    feeds = {k: take(v, idx) for k, v in c["feeds"].items()}
    outs = ref.run_model(c["model"], feeds)
    types = {o.name: kserve_type(o) for o in c["model"].graph.output}
    body = []
    for name, _ in c["expected"]:
        v = outs[name]
        body.append({"name": name, "datatype": types[name], "shape": shape_of(v),
                     "data": expected_values(v, types[name])})
    return {"outputs": body}


def dump(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, separators=(",", ":"), allow_nan=False)
        f.write("\n")


def describe_vi(vi):
    t = vi.type
    if t.HasField("sequence_type"):
        key = t.sequence_type.elem_type.map_type.key_type
        return {"name": vi.name, "datatype": "SEQUENCE_MAP",
                "onnx_type": "seq(map(%s, tensor(float)))" % ("string" if key == TensorProto.STRING else "int64")}
    dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.tensor_type.shape.dim]
    return {"name": vi.name, "datatype": kserve_type(vi), "shape": dims}


def write_case(c, outdir):
    name = c["name"]
    n_pool = len(next(iter(c["feeds"].values())))
    kept = [i for i in range(n_pool) if c["keep"][i]]
    dropped = n_pool - len(kept)
    if c.get("crosscheck", True):
        problems = check_outputs.compare(interpreter_body(c, kept), expected_body(c, kept), max_report=5)
        tol = c["tolerance"]
        tight = dict(c, tolerance={"abs": tol["abs"] / 10, "rel": tol["rel"] / 10})
        problems += ["(tolerance / 10) " + p for p in
                     check_outputs.compare(interpreter_body(c, kept), expected_body(tight, kept), max_report=3)]
        if problems:
            raise RuntimeError("%s: ONNX graph (reference interpreter) disagrees with the library:\n  %s"
                               % (name, "\n  ".join(problems)))
    random_rows = [i for i in kept if i >= c["n_edge"]]
    main_rows = kept[:N_MAIN]
    bench_rows = random_rows[:N_BENCH]
    if len(main_rows) < N_MAIN or len(bench_rows) < N_BENCH:
        raise RuntimeError("%s: not enough usable test rows (%d kept)" % (name, len(kept)))
    with open(os.path.join(outdir, name + ".onnx"), "wb") as f:
        f.write(c["model"].SerializeToString())
    for suffix, rows in (("", main_rows), (".b1", random_rows[:1]), (".b64", bench_rows)):
        req = name + (".request.json" if suffix == "" else suffix + ".json")
        dump(os.path.join(outdir, req), request_body(c, rows))
        dump(os.path.join(outdir, name + suffix + ".expected.json"), expected_body(c, rows))
    edge_kept = sum(1 for i in main_rows if i < c["n_edge"])
    m = c["model"]
    return {
        "name": name,
        "kind": c["kind"],
        "description": c["description"],
        "outputs_checked": [n for n, _ in c["expected"]],
        "inputs": [describe_vi(vi) for vi in m.graph.input],
        "outputs": [describe_vi(vi) for vi in m.graph.output],
        "exact_outputs": [n for n, _ in c["expected"]
                          if kserve_type(next(o for o in m.graph.output if o.name == n)) in ("INT64", "INT32",
                                                                                                "BYTES", "BOOL")],
        "tolerance": c["tolerance"],
        "reference": c["reference"],
        "opset_import": {(o.domain or "ai.onnx"): o.version for o in m.opset_import},
        "producer": m.producer_name,
        "rows": {"request": len(main_rows), "edge_rows": edge_kept, "b1": 1, "b64": len(bench_rows),
                 "candidates_dropped_as_ties": dropped},
        "nan_inputs": any(
            isinstance(v, np.ndarray) and v.dtype.kind == "f" and np.isnan(v[main_rows + bench_rows]).any()
            for v in c["feeds"].values()),
        "benchmark": c["kind"] == "bench",
        "notes": c.get("notes", []),
    }


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: %s OUTDIR\n" % argv[0])
        return 2
    outdir = argv[1]
    os.makedirs(outdir, exist_ok=True)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    from sklearn.exceptions import ConvergenceWarning
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    np.random.seed(0)
    manifest = []
    t0 = time.time()
    for fn in CASES:
        t = time.time()
        c = fn()
        entry = write_case(c, outdir)
        manifest.append(entry)
        print("%-40s %-13s %5.2fs  dropped %d" % (c["name"], c["kind"], time.time() - t,
                                                 entry["rows"]["candidates_dropped_as_ties"]))
    dump(os.path.join(outdir, "manifest.json"), manifest)
    print("%d models written to %s in %.1fs" % (len(manifest), outdir, time.time() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
