"""Small, readable reference implementation of the ai.onnx.ml operators used by
rtml's generated test models, plus a tiny graph interpreter for the handful of
standard ONNX operators that scikit-learn converters emit around them.

Purpose
  * gen_models.py uses it as *the* reference for the hand-built models
    (tree_modes_*, linear_classifier_*), whose expected outputs are not
    defined by any trained library;
  * gen_models.py also runs every converter-style model through it and checks
    the result against scikit-learn / XGBoost, which proves the hand-written
    converter graphs are right (there is no onnxruntime on this machine).

Numerics: attribute values are used exactly as stored in the model (float
attributes are therefore float32-rounded), inputs exactly as given, and all
arithmetic is done in Python double precision.  A float32 engine differs from
this only by float32 rounding of intermediate results.

Spec references are to https://github.com/onnx/onnx/blob/main/docs/Operators-ml.md
("spec:" below).  Where the spec is silent or vague -- above all the binary
cases of TreeEnsembleClassifier, LinearClassifier and SVMClassifier -- the
rules implemented are those of onnxruntime's CPU kernels (the de-facto
reference; "ORT:" below names the kernel).  Configurations where onnxruntime's
behaviour is clearly accidental (it drops a requested post_transform, loses
base_values, writes a malformed buffer, ...) raise Unsupported, so that no
generated test pins such a behaviour.

The tree-ensemble, linear and SVM operators are plain Python loops; the simple
element-wise transformers and the standard operators (MatMul, Gemm, ...) use
numpy.
"""

import math

import numpy as np
from onnx import TensorProto, helper, numpy_helper

ML_DOMAIN = "ai.onnx.ml"


class Unsupported(Exception):
    """Raised for operator configurations this reference deliberately refuses."""


# ---------------------------------------------------------------------------
# Post transforms (spec: "post_transform" of TreeEnsemble*, Linear*, SVM*)
# ---------------------------------------------------------------------------

def logistic(x):
    """1 / (1 + exp(-x)), written to avoid overflow for large |x|."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def erfinv(y):
    """Inverse error function on (-1, 1), accurate to ~1e-15.

    Starts from Giles' single-precision approximation ("Approximating the erfinv
    function", GPU Computing Gems, 2011) and polishes it with Newton steps on
    math.erf.
    """
    if y <= -1.0:
        return -math.inf
    if y >= 1.0:
        return math.inf
    w = -math.log((1.0 - y) * (1.0 + y))
    if w < 5.0:
        w -= 2.5
        p = 2.81022636e-08
        for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
                  -0.00125372503, -0.00417768164, 0.246640727, 1.50140941):
            p = c + p * w
    else:
        w = math.sqrt(w) - 3.0
        p = -0.000200214257
        for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
                  -0.0076224613, 0.00943887047, 1.00167406, 2.83297682):
            p = c + p * w
    x = p * y
    for _ in range(3):
        err = math.erf(x) - y
        x -= err / (2.0 / math.sqrt(math.pi) * math.exp(-x * x))
    return x


def probit(x):
    """spec: PROBIT(x) = sqrt(2) * erfinv(2x - 1).  NaN outside [0, 1]."""
    if not 0.0 <= x <= 1.0:
        return math.nan
    return math.sqrt(2.0) * erfinv(2.0 * x - 1.0)


def ort_probit_approx(x):
    """onnxruntime's ComputeProbit (ml_common.h): Winitzki's erfinv approximation
    with a = 0.147, evaluated in float32 by ORT.  Not a reference -- only used by
    gen_models.py to size the tolerance of PROBIT tests so that both an exact
    erfinv and ORT's approximation pass."""
    y = 2.0 * x - 1.0
    sgn = -1.0 if y < 0 else 1.0
    t = (1.0 - y) * (1.0 + y)
    ln = math.log(t)
    v = 2.0 / (math.pi * 0.147) + 0.5 * ln
    v2 = ln / 0.147
    return math.sqrt(2.0) * sgn * math.sqrt(-v + math.sqrt(v * v - v2))


def softmax(values):
    m = max(values)
    e = [math.exp(v - m) for v in values]
    s = sum(e)
    return [v / s for v in e]


def softmax_zero(values):
    """spec: SOFTMAX_ZERO is a softmax that ignores zero entries: zeros stay 0
    and do not contribute to the sum.  ORT (ComputeSoftmaxZero) treats
    |v| <= 1e-7 as zero; the max used for stability includes the zeros, which
    does not change the result."""
    m = max(values)
    e = [0.0 if abs(v) <= 1e-7 else math.exp(v - m) for v in values]
    s = sum(e)
    return [v / s for v in e]


def apply_post_transform(name, values):
    """Transform one row of scores (a list with >= 2 entries)."""
    if name == "NONE":
        return list(values)
    if name == "LOGISTIC":
        return [logistic(v) for v in values]
    if name == "SOFTMAX":
        return softmax(values)
    if name == "SOFTMAX_ZERO":
        return softmax_zero(values)
    if name == "PROBIT":
        return [probit(v) for v in values]
    raise Unsupported("unknown post_transform %r" % name)


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

def node_attributes(node):
    """Attributes of a NodeProto as plain Python values (strings decoded,
    tensor attributes converted to flat lists of Python numbers)."""
    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        if isinstance(v, bytes):
            v = v.decode("utf-8")
        elif isinstance(v, TensorProto):
            v = numpy_helper.to_array(v).ravel().tolist()
        elif isinstance(v, list) and v and isinstance(v[0], bytes):
            v = [s.decode("utf-8") for s in v]
        out[a.name] = v
    return out


def _rows(x):
    """A 1-D or 2-D array as a list of rows (spec: a 1-D input is one row)."""
    x = np.asarray(x)
    if x.ndim == 1:
        x = x.reshape(1, -1)
    if x.ndim != 2:
        raise Unsupported("expected a 1-D or 2-D input, got shape %s" % (x.shape,))
    return x.tolist()


def _class_labels(a, ints_name):
    if a.get("classlabels_strings"):
        return list(a["classlabels_strings"]), True
    if a.get(ints_name):
        return [int(v) for v in a[ints_name]], False
    raise Unsupported("classifier without class labels")


def _labels_array(labels, is_string):
    return np.array(labels, dtype=object if is_string else np.int64)


# ---------------------------------------------------------------------------
# Tree ensembles (spec: TreeEnsembleRegressor / TreeEnsembleClassifier)
# ---------------------------------------------------------------------------

def _branch_taken(mode, x, threshold, missing_tracks_true):
    """True when the 'true' child is taken.

    spec: nodes_missing_value_tracks_true -- a NaN feature goes to the true
    child when the flag is 1.  Otherwise the comparison is evaluated with IEEE
    semantics, exactly as ORT does (`val CMP threshold || (track && isnan)`):
    NaN compares false for LEQ/LT/GTE/GT/EQ and true for NEQ.
    """
    if missing_tracks_true and math.isnan(x):
        return True
    if mode == "BRANCH_LEQ":
        return x <= threshold
    if mode == "BRANCH_LT":
        return x < threshold
    if mode == "BRANCH_GTE":
        return x >= threshold
    if mode == "BRANCH_GT":
        return x > threshold
    if mode == "BRANCH_EQ":
        return x == threshold
    if mode == "BRANCH_NEQ":
        return x != threshold
    raise Unsupported("unknown node mode %r" % mode)


class _Forest:
    """Trees of a TreeEnsemble* node.  weight_prefix is 'target' or 'class'."""

    def __init__(self, a, weight_prefix):
        self.tree_ids = [int(v) for v in a["nodes_treeids"]]
        self.node_ids = [int(v) for v in a["nodes_nodeids"]]
        self.features = [int(v) for v in a["nodes_featureids"]]
        self.modes = list(a["nodes_modes"])
        # ai.onnx.ml opset 3 allows double-precision *_as_tensor attributes.
        if "nodes_values_as_tensor" in a:
            self.values = [float(v) for v in a["nodes_values_as_tensor"]]
        else:
            self.values = [float(v) for v in a["nodes_values"]]
        self.true_ids = [int(v) for v in a["nodes_truenodeids"]]
        self.false_ids = [int(v) for v in a["nodes_falsenodeids"]]
        n = len(self.tree_ids)
        self.missing = [int(v) for v in a.get("nodes_missing_value_tracks_true", [0] * n)]
        if len(self.missing) < n:
            self.missing += [0] * (n - len(self.missing))
        self.index = {}
        self.roots = []
        for i, key in enumerate(zip(self.tree_ids, self.node_ids)):
            if key in self.index:
                raise Unsupported("duplicate node %s" % (key,))
            self.index[key] = i
            # ORT: the root of a tree is the first node listed for its tree id.
            if not self.roots or self.tree_ids[self.roots[-1]] != key[0]:
                if any(self.tree_ids[r] == key[0] for r in self.roots):
                    raise Unsupported("nodes of tree %d are not contiguous" % key[0])
                self.roots.append(i)
        ids = [int(v) for v in a[weight_prefix + "_ids"]]
        tids = [int(v) for v in a[weight_prefix + "_treeids"]]
        nids = [int(v) for v in a[weight_prefix + "_nodeids"]]
        if weight_prefix + "_weights_as_tensor" in a:
            ws = [float(v) for v in a[weight_prefix + "_weights_as_tensor"]]
        else:
            ws = [float(v) for v in a[weight_prefix + "_weights"]]
        self.weight_ids = ids
        self.weight_values = ws
        self.leaf_weights = {}
        for t, nid, k, w in zip(tids, nids, ids, ws):
            self.leaf_weights.setdefault(self.index[(t, nid)], []).append((k, w))
        for i, mode in enumerate(self.modes):
            # ORT rejects a leaf without any weight ("Target is missing for leaf").
            if mode == "LEAF" and i not in self.leaf_weights:
                raise Unsupported("leaf %d of tree %d has no weight"
                                  % (self.node_ids[i], self.tree_ids[i]))

    def leaf(self, root, row):
        i = root
        while self.modes[i] != "LEAF":
            taken = _branch_taken(self.modes[i], row[self.features[i]],
                                  self.values[i], self.missing[i])
            child = self.true_ids[i] if taken else self.false_ids[i]
            i = self.index[(self.tree_ids[i], child)]
        return i


def _base_values(a):
    if "base_values_as_tensor" in a:
        return [float(v) for v in a["base_values_as_tensor"]]
    return [float(v) for v in a.get("base_values", [])]


def tree_ensemble_regressor(a, x):
    """spec: TreeEnsembleRegressor.  Returns Y as a float array [N, n_targets].

    Aggregation per target over the trees whose reached leaf carries a weight
    for that target: SUM adds, AVERAGE adds and divides by the total number of
    trees, MIN/MAX keep the extreme value (a target no tree contributed to is
    0).  base_values (one per target) are added after aggregation, then the
    post_transform is applied.
    """
    forest = _Forest(a, "target")
    n_targets = int(a.get("n_targets", 1))
    agg = a.get("aggregate_function", "SUM")
    post = a.get("post_transform", "NONE")
    base = _base_values(a)
    if base and len(base) != n_targets:
        # ORT silently ignores base_values whose length is not n_targets
        # (except a single value with one target).
        raise Unsupported("base_values must have n_targets entries")
    if n_targets == 1 and post not in ("NONE", "PROBIT"):
        # ORT (TreeAggregator*::FinalizeScores1) ignores LOGISTIC/SOFTMAX* for
        # a single target.
        raise Unsupported("post_transform %s with one target" % post)
    n_trees = len(forest.roots)
    out = []
    for row in _rows(x):
        score = [0.0] * n_targets
        has = [False] * n_targets
        for root in forest.roots:
            for k, w in forest.leaf_weights[forest.leaf(root, row)]:
                if agg in ("SUM", "AVERAGE"):
                    score[k] += w
                elif agg == "MIN":
                    score[k] = w if not has[k] else min(score[k], w)
                elif agg == "MAX":
                    score[k] = w if not has[k] else max(score[k], w)
                else:
                    raise Unsupported("aggregate_function %r" % agg)
                has[k] = True
        if agg == "AVERAGE":
            score = [s / n_trees for s in score]
        if base:
            score = [s + b for s, b in zip(score, base)]
        if n_targets == 1:
            out.append([probit(score[0]) if post == "PROBIT" else score[0]])
        else:
            out.append(apply_post_transform(post, score))
    return np.array(out, dtype=np.float64).reshape(-1, n_targets)


def tree_ensemble_classifier(a, x):
    """spec: TreeEnsembleClassifier.  Returns (labels [N], scores [N, C]).

    Class scores are the SUM over trees of the weights of the reached leaves.

    More than two classes (ORT: TreeAggregatorClassifier::FinalizeScores):
      base_values[k] are added to class k; the label is the class with the
      highest score among the classes that received a score (a weight or a base
      value; ties -> lowest index); classes without a score count as 0 in the
      output, which is the post_transform of the scores.

    Two classes, "binary case" (ORT: binary_case_ = two class labels and all
    class_ids equal).  Converters (skl2onnx for binary RandomForest /
    GradientBoosting, onnxmltools for XGBoost) store ONE weight column with
    class_id 0 that holds the *positive-class* score s (plus base_values[0] if
    one base value is given).  Then:
      * all class_weights >= 0 (probability leaves): label = labels[1] if
        s > 0.5 else labels[0]; scores = [1 - s, s] (post_transform must be
        NONE: ORT ignores any other transform here);
      * some weight < 0 (margin leaves): label = labels[1] if s > 0 else
        labels[0]; scores = [logistic(-s), logistic(s)] with LOGISTIC,
        [-s, s] with NONE.
    Other two-class layouts (weights for both classes, a single column with
    class_id 1, two base_values, PROBIT) are handled by ORT in ways that lose
    information (literal labels 1/0, dropped base values, a one-column write)
    and raise Unsupported here.
    """
    forest = _Forest(a, "class")
    labels, is_string = _class_labels(a, "classlabels_int64s")
    n_classes = len(labels)
    post = a.get("post_transform", "NONE")
    base = _base_values(a)
    class_ids = forest.weight_ids
    if any(k < 0 or k >= n_classes for k in class_ids):
        raise Unsupported("class_id out of range")
    binary_case = n_classes == 2 and len(set(class_ids)) == 1
    all_positive = all(w >= 0 for w in forest.weight_values)
    if n_classes == 2:
        if not binary_case or class_ids[0] != 0:
            raise Unsupported("two-class TreeEnsembleClassifier other than one class_id-0 column")
        if len(base) > 1:
            raise Unsupported("binary TreeEnsembleClassifier with two base_values")
        if post == "PROBIT":
            raise Unsupported("binary TreeEnsembleClassifier with PROBIT")
        if all_positive and post != "NONE":
            raise Unsupported("binary probability leaves with post_transform %s" % post)
        if not all_positive and post not in ("NONE", "LOGISTIC"):
            raise Unsupported("binary margin leaves with post_transform %s" % post)
    elif base and len(base) != n_classes:
        raise Unsupported("base_values must have one entry per class")

    out_labels, out_scores = [], []
    for row in _rows(x):
        score = [0.0] * n_classes
        has = [False] * n_classes
        for root in forest.roots:
            for k, w in forest.leaf_weights[forest.leaf(root, row)]:
                score[k] += w
                has[k] = True
        if n_classes > 2:
            for k, b in enumerate(base):
                score[k] += b
                has[k] = True
            best = None
            for k in range(n_classes):
                if has[k] and (best is None or score[k] > score[best]):
                    best = k
            if best is None:
                raise Unsupported("no class received a score")
            out_labels.append(labels[best])
            out_scores.append(apply_post_transform(post, score))
        else:
            s = score[0] + (base[0] if base else 0.0)
            if all_positive:
                out_labels.append(labels[1] if s > 0.5 else labels[0])
                out_scores.append([1.0 - s, s])
            else:
                out_labels.append(labels[1] if s > 0 else labels[0])
                if post == "LOGISTIC":
                    out_scores.append([logistic(-s), logistic(s)])
                else:
                    out_scores.append([-s, s])
    return (_labels_array(out_labels, is_string),
            np.array(out_scores, dtype=np.float64).reshape(-1, n_classes))


# ---------------------------------------------------------------------------
# Linear models (spec: LinearClassifier, LinearRegressor)
# ---------------------------------------------------------------------------

def _linear_scores(coefficients, intercepts, n_targets, row):
    n_features = len(coefficients) // n_targets
    if n_features != len(row):
        raise Unsupported("coefficients do not match the number of features")
    return [sum(coefficients[t * n_features + j] * row[j] for j in range(n_features))
            + (intercepts[t] if intercepts else 0.0)
            for t in range(n_targets)]


def linear_classifier(a, x):
    """spec: LinearClassifier.  Returns (labels [N], scores [N, C']).

    scores = X * coefficients^T + intercepts, one column per coefficient row;
    the number of rows is len(intercepts) (ORT: class_count_).  The attribute
    multi_class has no effect on the result (ORT ignores it).

    Several rows: label = class of the highest *raw* score (ties -> lowest
    index); scores = post_transform(raw scores).

    One row (ORT's binary case): label = labels[1] if raw > 0 else labels[0]
    (or 1/0, "1"/"0" without two labels).  With two class labels ORT writes
    two columns [1 - raw, raw] -- only meaningful with post_transform NONE, as
    ORT ignores LOGISTIC/SOFTMAX here and writes a malformed buffer for PROBIT;
    those combinations raise Unsupported.  Converters avoid the one-row form
    (skl2onnx writes two rows [-w, w] for a binary LogisticRegression).
    """
    labels, is_string = _class_labels(a, "classlabels_ints")
    coefficients = [float(v) for v in a["coefficients"]]
    intercepts = [float(v) for v in a.get("intercepts", [])]
    if not intercepts:
        raise Unsupported("LinearClassifier without intercepts")
    n_targets = len(intercepts)
    post = a.get("post_transform", "NONE")
    out_labels, out_scores = [], []
    for row in _rows(x):
        raw = _linear_scores(coefficients, intercepts, n_targets, row)
        if n_targets == 1:
            if len(labels) == 2:
                pos, neg = labels[1], labels[0]
            else:
                pos, neg = ("1", "0") if is_string else (1, 0)
            out_labels.append(pos if raw[0] > 0 else neg)
            if len(labels) == 2:
                if post != "NONE":
                    raise Unsupported("one-row LinearClassifier with post_transform %s" % post)
                out_scores.append([1.0 - raw[0], raw[0]])
            else:
                if post != "NONE":
                    raise Unsupported("one-row LinearClassifier with post_transform %s" % post)
                out_scores.append(raw)
        else:
            if len(labels) != n_targets:
                raise Unsupported("number of labels differs from number of coefficient rows")
            best = 0
            for k in range(1, n_targets):
                if raw[k] > raw[best]:
                    best = k
            out_labels.append(labels[best])
            out_scores.append(apply_post_transform(post, raw))
    width = len(out_scores[0]) if out_scores else n_targets
    return (_labels_array(out_labels, is_string),
            np.array(out_scores, dtype=np.float64).reshape(-1, width))


def linear_regressor(a, x):
    """spec: LinearRegressor.  Y = X * coefficients^T + intercepts, [N, targets]."""
    n_targets = int(a.get("targets", 1))
    coefficients = [float(v) for v in a["coefficients"]]
    intercepts = [float(v) for v in a.get("intercepts", [])]
    post = a.get("post_transform", "NONE")
    out = []
    for row in _rows(x):
        raw = _linear_scores(coefficients, intercepts, n_targets, row)
        if post != "NONE":
            if n_targets == 1 and post != "PROBIT":
                raise Unsupported("post_transform %s with one target" % post)
            raw = [probit(raw[0])] if n_targets == 1 else apply_post_transform(post, raw)
        out.append(raw)
    return np.array(out, dtype=np.float64).reshape(-1, n_targets)


# ---------------------------------------------------------------------------
# Support vector machines (spec: SVMClassifier, SVMRegressor)
# ---------------------------------------------------------------------------

def _kernel(kind, params, u, v):
    gamma, coef0, degree = (list(params) + [0.0, 0.0, 0.0])[:3]
    if kind == "RBF":
        return math.exp(-gamma * sum((p - q) * (p - q) for p, q in zip(u, v)))
    dot = sum(p * q for p, q in zip(u, v))
    if kind == "LINEAR":
        return dot
    if kind == "POLY":
        return (gamma * dot + coef0) ** degree
    if kind == "SIGMOID":
        return math.tanh(gamma * dot + coef0)
    raise Unsupported("kernel_type %r" % kind)


def svm_classifier(a, x):
    """spec: SVMClassifier, libsvm one-vs-one SVC without probabilities.

    For each class pair (i, j), i < j, in the order (0,1), (0,2), ..., (1,2), ...:
      d_ij = sum_{sv in class i} coef[j-1][sv] K(x, sv)
           + sum_{sv in class j} coef[i][sv]   K(x, sv) + rho[pair]
    (coefficients laid out as libsvm's [n_classes - 1, n_support_vectors]);
    d_ij > 0 is a vote for i, otherwise for j.  label = most votes (ties ->
    lowest index).  Scores (ORT): more than two classes -> the pairwise d_ij,
    [N, C(C-1)/2]; two classes -> [-d_01, d_01] (post_transform NONE).
    Probability outputs (prob_a/prob_b) and the linear (no support vector)
    mode are not needed by the generated tests and raise Unsupported.
    """
    labels, is_string = _class_labels(a, "classlabels_ints")
    if a.get("prob_a"):
        raise Unsupported("SVMClassifier with prob_a/prob_b")
    per_class = [int(v) for v in a.get("vectors_per_class", [])]
    if not per_class:
        raise Unsupported("SVMClassifier in linear mode")
    if a.get("post_transform", "NONE") != "NONE":
        raise Unsupported("SVMClassifier with a post_transform")
    n_classes = len(labels)
    n_sv = sum(per_class)
    sv_flat = [float(v) for v in a["support_vectors"]]
    n_features = len(sv_flat) // n_sv
    svs = [sv_flat[k * n_features:(k + 1) * n_features] for k in range(n_sv)]
    coef = [float(v) for v in a["coefficients"]]
    rho = [float(v) for v in a["rho"]]
    kind = a.get("kernel_type", "LINEAR")
    params = [float(v) for v in a.get("kernel_params", [])]
    start = [sum(per_class[:c]) for c in range(n_classes)]
    out_labels, out_scores = [], []
    for row in _rows(x):
        k = [_kernel(kind, params, row, sv) for sv in svs]
        votes = [0] * n_classes
        decisions = []
        pair = 0
        for i in range(n_classes):
            for j in range(i + 1, n_classes):
                d = 0.0
                for m in range(per_class[i]):
                    d += coef[(j - 1) * n_sv + start[i] + m] * k[start[i] + m]
                for m in range(per_class[j]):
                    d += coef[i * n_sv + start[j] + m] * k[start[j] + m]
                d += rho[pair]
                pair += 1
                decisions.append(d)
                votes[i if d > 0 else j] += 1
        best = max(range(n_classes), key=lambda c: (votes[c], -c))
        out_labels.append(labels[best])
        out_scores.append([-decisions[0], decisions[0]] if n_classes == 2 else decisions)
    width = 2 if n_classes == 2 else n_classes * (n_classes - 1) // 2
    return (_labels_array(out_labels, is_string),
            np.array(out_scores, dtype=np.float64).reshape(-1, width))


def svm_regressor(a, x):
    """spec: SVMRegressor.  Y = sum_k coef[k] K(x, sv_k) + rho[0], [N, 1].

    With n_supports == 0 (ORT's linear mode) Y = x . coefficients + rho[0].
    one_class = 1 maps Y to +1 / -1 (Y > 0)."""
    n_sv = int(a.get("n_supports", 0))
    coef = [float(v) for v in a["coefficients"]]
    rho = [float(v) for v in a["rho"]]
    kind = a.get("kernel_type", "LINEAR")
    params = [float(v) for v in a.get("kernel_params", [])]
    if a.get("post_transform", "NONE") != "NONE":
        raise Unsupported("SVMRegressor with a post_transform")
    sv_flat = [float(v) for v in a.get("support_vectors", [])]
    out = []
    for row in _rows(x):
        if n_sv > 0:
            nf = len(sv_flat) // n_sv
            y = sum(coef[k] * _kernel(kind, params, row, sv_flat[k * nf:(k + 1) * nf])
                    for k in range(n_sv)) + rho[0]
        else:
            y = sum(c * v for c, v in zip(coef, row)) + rho[0]
        if int(a.get("one_class", 0)):
            y = 1.0 if y > 0 else -1.0
        out.append([y])
    return np.array(out, dtype=np.float64).reshape(-1, 1)


# ---------------------------------------------------------------------------
# Feature transformers
# ---------------------------------------------------------------------------

def scaler(a, x):
    """spec: Scaler.  Y = (X - offset) * scale, per column (length-1 attributes
    broadcast to every column)."""
    x = np.asarray(x, dtype=np.float64)
    offset = np.array(a.get("offset", [0.0]), dtype=np.float64)
    scale = np.array(a.get("scale", [1.0]), dtype=np.float64)
    return (x - offset) * scale


def normalizer(a, x):
    """spec: Normalizer, per row: MAX divides by max(x_i) (the signed maximum,
    not max |x_i|), L1 by sum |x_i|, L2 by sqrt(sum x_i^2).  A row whose norm
    is 0 is returned unchanged (ORT)."""
    norm = a.get("norm", "MAX")
    out = []
    for row in _rows(x):
        if norm == "MAX":
            z = max(row)
        elif norm == "L1":
            z = sum(abs(v) for v in row)
        elif norm == "L2":
            z = math.sqrt(sum(v * v for v in row))
        else:
            raise Unsupported("norm %r" % norm)
        out.append([v / z for v in row] if z != 0 else list(row))
    return np.array(out, dtype=np.float64).reshape(np.asarray(x).shape)


def binarizer(a, x):
    """spec: Binarizer.  Y = 1 where X > threshold, else 0."""
    t = float(a.get("threshold", 0.0))
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > t, 1.0, 0.0)


def imputer(a, x):
    """spec: Imputer.  Values equal to replaced_value_float (NaN matches NaN)
    are replaced by imputed_value_floats[column] (one value = all columns)."""
    x = np.array(x, dtype=np.float64)
    values = [float(v) for v in a["imputed_value_floats"]]
    target = float(a.get("replaced_value_float", 0.0))
    out = x.reshape(-1, x.shape[-1]).copy()
    for r in range(out.shape[0]):
        for c in range(out.shape[1]):
            v = out[r, c]
            if (math.isnan(target) and math.isnan(v)) or v == target:
                out[r, c] = values[c] if len(values) > 1 else values[0]
    return out.reshape(x.shape)


def one_hot_encoder(a, x):
    """spec: OneHotEncoder.  Output shape = input shape + [n_categories]; an
    unknown value gives all zeros when zeros = 1 and is an error otherwise."""
    cats = a.get("cats_strings") or [int(v) for v in a.get("cats_int64s", [])]
    zeros = int(a.get("zeros", 1))
    x = np.asarray(x)
    flat = x.ravel().tolist()
    out = np.zeros((len(flat), len(cats)), dtype=np.float64)
    position = {c: i for i, c in enumerate(cats)}
    for r, v in enumerate(flat):
        key = v if isinstance(v, str) else int(v)
        if key in position:
            out[r, position[key]] = 1.0
        elif not zeros:
            raise Unsupported("unknown category %r with zeros=0" % (v,))
    return out.reshape(x.shape + (len(cats),))


def label_encoder(a, x):
    """spec: LabelEncoder (ai.onnx.ml opset 2): maps keys_* to values_*
    elementwise; unknown keys get default_* (-1, "_Unused", -0.0)."""
    x = np.asarray(x)
    if "keys_strings" in a:
        keys = list(a["keys_strings"])
    elif "keys_int64s" in a:
        keys = [int(v) for v in a["keys_int64s"]]
    else:
        keys = [float(v) for v in a["keys_floats"]]
    if "values_strings" in a:
        values, default, dtype = list(a["values_strings"]), a.get("default_string", "_Unused"), object
    elif "values_int64s" in a:
        values, default, dtype = [int(v) for v in a["values_int64s"]], int(a.get("default_int64", -1)), np.int64
    else:
        values, default, dtype = [float(v) for v in a["values_floats"]], float(a.get("default_float", -0.0)), np.float64
    table = dict(zip(keys, values))
    out = [table.get(v if isinstance(v, str) else (int(v) if isinstance(keys[0], int) else float(v)), default)
           for v in x.ravel().tolist()]
    return np.array(out, dtype=dtype).reshape(x.shape)


def category_mapper(a, x):
    """spec: CategoryMapper: string -> int64 through cats_strings[i] ->
    cats_int64s[i] (unknown -> default_int64, -1), or int64 -> string
    (unknown -> default_string, "_Unused")."""
    x = np.asarray(x)
    strings = list(a["cats_strings"])
    ints = [int(v) for v in a["cats_int64s"]]
    if x.dtype == object:
        table, default, dtype = dict(zip(strings, ints)), int(a.get("default_int64", -1)), np.int64
        out = [table.get(v, default) for v in x.ravel().tolist()]
    else:
        table, default, dtype = dict(zip(ints, strings)), a.get("default_string", "_Unused"), object
        out = [table.get(int(v), default) for v in x.ravel().tolist()]
    return np.array(out, dtype=dtype).reshape(x.shape)


def array_feature_extractor(x, indices):
    """spec: ArrayFeatureExtractor selects indices along the last axis.  The
    indices tensor is flattened; ORT returns [1, n] for a 1-D X."""
    x = np.asarray(x)
    idx = np.asarray(indices, dtype=np.int64).ravel()
    if idx.size == 0 or (idx >= x.shape[-1]).any() or (idx < 0).any():
        raise Unsupported("ArrayFeatureExtractor index out of range")
    out = x[..., idx]
    return out.reshape(1, -1) if x.ndim == 1 else out


def feature_vectorizer(a, inputs):
    """spec: FeatureVectorizer.  Concatenates the inputs' columns in input
    order into a float tensor [N, sum(inputdimensions)]; each input must have
    exactly inputdimensions[i] columns here."""
    dims = [int(v) for v in a["inputdimensions"]]
    parts = []
    for x, d in zip(inputs, dims):
        x = np.asarray(x, dtype=np.float64)
        x = x.reshape(x.shape[0], -1) if x.ndim > 1 else x.reshape(-1, 1)
        if x.shape[1] != d:
            raise Unsupported("FeatureVectorizer input with %d columns, inputdimensions %d"
                              % (x.shape[1], d))
        parts.append(x)
    return np.concatenate(parts, axis=1)


def zipmap(a, x):
    """spec: ZipMap.  Each row of the [N, C] float input becomes a map
    {classlabels[c]: x[n, c]}; the output is a sequence of N maps."""
    labels = a.get("classlabels_strings") or [int(v) for v in a.get("classlabels_int64s", [])]
    rows = _rows(x)
    if rows and len(rows[0]) != len(labels):
        raise Unsupported("ZipMap: %d columns for %d labels" % (len(rows[0]), len(labels)))
    return [dict(zip(labels, row)) for row in rows]


# ---------------------------------------------------------------------------
# Graph interpreter (standard operators via numpy, float64 internally)
# ---------------------------------------------------------------------------

_NUMPY_OF = {
    TensorProto.FLOAT: np.float64, TensorProto.DOUBLE: np.float64,
    TensorProto.INT64: np.int64, TensorProto.INT32: np.int32,
    TensorProto.STRING: object, TensorProto.BOOL: np.bool_,
}


def _cast(x, to):
    x = np.asarray(x)
    if to == TensorProto.STRING:
        return np.array([str(v) for v in x.ravel()], dtype=object).reshape(x.shape)
    if to == TensorProto.FLOAT:
        # float32 rounding is part of the semantics of Cast(to=FLOAT).
        return x.astype(np.float32).astype(np.float64)
    if to in (TensorProto.INT64, TensorProto.INT32) and x.dtype.kind == "f":
        return np.trunc(x).astype(_NUMPY_OF[to])
    return x.astype(_NUMPY_OF[to])


def _tensor(value):
    """Initializer / constant -> numpy array in the interpreter's representation."""
    arr = numpy_helper.to_array(value)
    if arr.dtype == object or arr.dtype.kind == "S":
        return np.array([v.decode("utf-8") if isinstance(v, bytes) else v
                         for v in arr.ravel()], dtype=object).reshape(arr.shape)
    if arr.dtype.kind == "f":
        return arr.astype(np.float64)
    return arr


def _std_op(op, a, ins):
    if op == "Identity":
        return ins[0]
    if op == "Cast":
        return _cast(ins[0], a["to"])
    if op == "MatMul":
        return np.matmul(ins[0], ins[1])
    if op == "Add":
        return ins[0] + ins[1]
    if op == "Sub":
        return ins[0] - ins[1]
    if op == "Mul":
        return ins[0] * ins[1]
    if op == "Div":
        return ins[0] / ins[1]
    if op == "Abs":
        return np.abs(ins[0])
    if op == "Neg":
        return -ins[0]
    if op == "Relu":
        return np.maximum(ins[0], 0.0)
    if op == "Tanh":
        return np.tanh(ins[0])
    if op == "Sigmoid":
        return 1.0 / (1.0 + np.exp(-ins[0]))
    if op == "Softmax":  # opset >= 13: along one axis, default -1
        axis = a.get("axis", -1)
        e = np.exp(ins[0] - ins[0].max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)
    if op == "Gemm":
        A = ins[0].T if a.get("transA", 0) else ins[0]
        B = ins[1].T if a.get("transB", 0) else ins[1]
        y = a.get("alpha", 1.0) * (A @ B)
        if len(ins) > 2 and ins[2] is not None:
            y = y + a.get("beta", 1.0) * ins[2]
        return y
    if op == "ArgMax":  # first maximal index (select_last_index = 0)
        axis = a.get("axis", 0)
        r = np.argmax(ins[0], axis=axis)
        return np.expand_dims(r, axis) if a.get("keepdims", 1) else r
    if op == "Reshape":
        shape = [int(v) for v in ins[1]]
        shape = [ins[0].shape[i] if s == 0 else s for i, s in enumerate(shape)]
        return ins[0].reshape(shape)
    if op == "Concat":
        return np.concatenate(ins, axis=a["axis"])
    if op == "Gather":
        return np.take(ins[0], ins[1], axis=a.get("axis", 0))
    raise Unsupported("operator %s is not implemented by the reference" % op)


def _ml_op(op, a, ins):
    if op == "TreeEnsembleRegressor":
        return [tree_ensemble_regressor(a, ins[0])]
    if op == "TreeEnsembleClassifier":
        return list(tree_ensemble_classifier(a, ins[0]))
    if op == "LinearClassifier":
        return list(linear_classifier(a, ins[0]))
    if op == "LinearRegressor":
        return [linear_regressor(a, ins[0])]
    if op == "SVMClassifier":
        return list(svm_classifier(a, ins[0]))
    if op == "SVMRegressor":
        return [svm_regressor(a, ins[0])]
    if op == "Scaler":
        return [scaler(a, ins[0])]
    if op == "Normalizer":
        return [normalizer(a, ins[0])]
    if op == "Binarizer":
        return [binarizer(a, ins[0])]
    if op == "Imputer":
        return [imputer(a, ins[0])]
    if op == "OneHotEncoder":
        return [one_hot_encoder(a, ins[0])]
    if op == "LabelEncoder":
        return [label_encoder(a, ins[0])]
    if op == "CategoryMapper":
        return [category_mapper(a, ins[0])]
    if op == "ArrayFeatureExtractor":
        return [array_feature_extractor(ins[0], ins[1])]
    if op == "FeatureVectorizer":
        return [feature_vectorizer(a, ins)]
    if op == "ZipMap":
        return [zipmap(a, ins[0])]
    raise Unsupported("ai.onnx.ml operator %s is not implemented by the reference" % op)


def run_model(model, feeds):
    """Evaluate a ModelProto.  feeds: input name -> numpy array (strings as an
    object array).  Returns graph output name -> value (numpy arrays; a list of
    dicts for ZipMap outputs).  Nodes are evaluated in graph order, which the
    ONNX checker requires to be topological."""
    env = {}
    for init in model.graph.initializer:
        env[init.name] = _tensor(init)
    for name, value in feeds.items():
        value = np.asarray(value)
        env[name] = value.astype(np.float64) if value.dtype.kind == "f" else value
    for node in model.graph.node:
        a = node_attributes(node)
        ins = [env[n] if n else None for n in node.input]
        if node.op_type == "Constant":
            outs = [_tensor(next(at.t for at in node.attribute if at.name == "value"))]
        elif node.domain == ML_DOMAIN:
            outs = _ml_op(node.op_type, a, ins)
        elif node.domain in ("", "ai.onnx"):
            outs = [_std_op(node.op_type, a, ins)]
        else:
            raise Unsupported("domain %r" % node.domain)
        for name, value in zip(node.output, outs):
            if name:
                env[name] = value
    return {o.name: env[o.name] for o in model.graph.output}
