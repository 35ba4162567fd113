"""skl2onnx converters for skae's estimators: whole pipelines as one ONNX graph.

skl2onnx (``skl2onnx.to_onnx``) converts a fitted scikit-learn pipeline into
one ONNX graph, step by step, with a converter per estimator class. Call
:func:`register` once, after importing skae and before converting, to teach
it skae's estimators::

    import skae.onnx
    from skl2onnx import to_onnx

    skae.onnx.register()
    onx = to_onnx(pipeline, X[:1].astype("float32"))

Each estimator's Keras networks are converted by Keras's own ONNX export
(``tf2onnx``) and their nodes joined into skl2onnx's graph:

* :class:`~skae.AutoencoderTransformer` and
  :class:`~skae.VariationalAutoencoderTransformer` become their
  :meth:`~skae.AutoencoderTransformer.transform`: the codes (the posterior
  mean, for the variational one).
* :class:`~skae.AutoencoderOutlierDetector` becomes ``label`` (+1/-1, as
  :meth:`~skae.AutoencoderOutlierDetector.predict`) and ``scores`` (its
  :meth:`~skae.AutoencoderOutlierDetector.decision_function`), as skl2onnx
  converts scikit-learn's outlier detectors.

The networks compute in float32: inputs of another type are cast first.
Needs the ``onnx`` extra (``pip install "skae[onnx]"``); this module imports
none of it until :func:`register` is called.
"""

from __future__ import annotations

import numpy as np

__all__ = ["register"]


def register():
    """Register skl2onnx converters for skae's estimators.

    Afterwards ``skl2onnx.to_onnx`` converts pipelines that hold any skae
    estimator (see the module's description for what each one becomes).
    Calling it again is harmless.

    Raises
    ------
    ImportError
        When skl2onnx, onnx or tf2onnx is not installed.
    """
    try:
        from skl2onnx import update_registered_converter
    except ImportError as exc:
        raise ImportError(
            f'skae.onnx.register() needs skl2onnx ({exc}): pip install "skae[onnx]"'
        ) from exc

    from ._autoencoder import AutoencoderTransformer
    from ._outlier import AutoencoderOutlierDetector
    from ._variational import VariationalAutoencoderTransformer

    for cls in (AutoencoderTransformer, VariationalAutoencoderTransformer):
        update_registered_converter(
            cls, f"Skae{cls.__name__}", _codes_shape, _convert_codes
        )
    update_registered_converter(
        AutoencoderOutlierDetector,
        "SkaeAutoencoderOutlierDetector",
        _detector_shape,
        _convert_detector,
        parser=_parse_detector,
    )


# -- shapes ------------------------------------------------------------------------


def _codes_shape(operator):
    from skl2onnx.common.data_types import FloatTensorType

    n_rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = FloatTensorType(
        [n_rows, operator.raw_operator._n_features_out]
    )


def _detector_shape(operator):
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType

    n_rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = Int64TensorType([n_rows])
    operator.outputs[1].type = FloatTensorType([n_rows, 1])


def _parse_detector(scope, model, inputs, custom_parsers=None):
    """Declare the detector's operator, with outputs ``label`` and ``scores``."""
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType

    alias = "SkaeAutoencoderOutlierDetector"
    operator = scope.declare_local_operator(alias, model)
    operator.inputs = inputs
    label = scope.declare_local_variable("label", Int64TensorType())
    scores = scope.declare_local_variable("scores", FloatTensorType())
    operator.outputs.extend([label, scores])
    return operator.outputs


# -- converters --------------------------------------------------------------------


def _convert_codes(scope, operator, container):
    estimator = operator.raw_operator
    x = _float_input(scope, operator, container)
    _add_network(scope, container, estimator.encoder_, x, operator.outputs[0].full_name)


def _convert_detector(scope, operator, container):
    """Compute the detector's scores as ``AutoencoderOutlierDetector`` does."""
    from onnx import TensorProto

    det = operator.raw_operator
    name = scope.get_unique_variable_name
    x = _float_input(scope, operator, container)
    codes, x_hat = name("codes"), name("reconstruction")
    _add_network(scope, container, det.encoder_, x, codes)
    _add_network(scope, container, det.decoder_, codes, x_hat)

    def const(value, label):
        value = np.asarray(value, dtype=np.float32)
        tensor = name(label)
        container.add_initializer(
            tensor, TensorProto.FLOAT, list(value.shape), value.ravel()
        )
        return tensor

    def node(op_type, inputs, label, **attrs):
        out = name(label)
        container.add_node(
            op_type, inputs, out, name=scope.get_unique_operator_name(op_type), **attrs
        )
        return out

    # Mean over features of the squared error divided by error_scale_: a
    # product with a column (no Reduce*, whose form changed across opsets).
    diff = node("Sub", [x_hat, x], "diff")
    squared = node("Mul", [diff, diff], "squared")
    weights = const(
        (1.0 / (det.error_scale_ * det.n_features_in_))[:, None], "error_weights"
    )
    error = node("MatMul", [squared, weights], "error")
    centred = node("Sub", [codes, const(det.code_mean_, "code_mean")], "centred")
    projected = node(
        "MatMul", [centred, const(det.code_precision_, "code_precision")], "projected"
    )
    product = node("Mul", [projected, centred], "product")
    ones = const(np.ones((det.code_mean_.shape[0], 1)), "ones")
    distance = node("MatMul", [product, ones], "distance")
    distance = node("Max", [distance, const(np.zeros(1), "zero")], "distance_clipped")
    parts = [
        node(
            "Div", [error, const([det.score_scales_[0]], "error_scale")], "error_part"
        ),
        node(
            "Div",
            [distance, const([det.score_scales_[1]], "distance_scale")],
            "code_part",
        ),
    ]
    total = node("Add", parts, "total")
    score = node("Mul", [total, const([-0.5], "minus_half")], "score_samples")
    container.add_node(
        "Sub", [score, const([det.offset_], "offset")], operator.outputs[1].full_name,
        name=scope.get_unique_operator_name("Sub"),
    )  # fmt: skip
    flat = node(
        "Reshape",
        [operator.outputs[1].full_name, _int64(container, name, [-1])],
        "flat",
    )
    negative = node("Less", [flat, const([0.0], "zero_decision")], "negative")
    container.add_node(
        "Where",
        [negative, _int64(container, name, [-1]), _int64(container, name, [1])],
        operator.outputs[0].full_name,
        name=scope.get_unique_operator_name("Where"),
    )


def _int64(container, name, values):
    from onnx import TensorProto

    tensor = name("int64")
    container.add_initializer(tensor, TensorProto.INT64, [len(values)], values)
    return tensor


def _float_input(scope, operator, container):
    """Return the operator's input as float32, cast when of another type."""
    from onnx import TensorProto
    from skl2onnx.common.data_types import FloatTensorType

    variable = operator.inputs[0]
    if isinstance(variable.type, FloatTensorType):
        return variable.full_name
    cast = scope.get_unique_variable_name("cast_input")
    container.add_node(
        "Cast", variable.full_name, cast, to=TensorProto.FLOAT,
        name=scope.get_unique_operator_name("Cast"),
    )  # fmt: skip
    return cast


def _add_network(scope, container, model, input_name, output_name):
    """Add Keras ``model``'s ONNX graph, from ``input_name`` to ``output_name``.

    Every name of the graph gets a fresh one in skl2onnx's scope, so that the
    same network can be added twice (the detector's encoder and decoder are
    two networks; two pipelines may share nothing).
    """
    from onnx import helper, numpy_helper

    from ._export import onnx_model

    proto = onnx_model(model)
    graph = proto.graph
    versions = {entry.domain: entry.version for entry in proto.opset_import}
    if len(graph.input) != 1 or len(graph.output) != 1:
        raise ValueError(
            f"Only networks with one input and one output convert; {model.name!r} "
            f"has {len(graph.input)} and {len(graph.output)}."
        )
    renamed = {
        graph.input[0].name: input_name,
        graph.output[0].name: output_name,
        "": "",
    }

    def rename(tensor):
        if tensor not in renamed:
            renamed[tensor] = scope.get_unique_variable_name(f"{model.name}_{tensor}")
        return renamed[tensor]

    for init in graph.initializer:
        array = numpy_helper.to_array(init)
        container.add_initializer(
            rename(init.name),
            init.data_type,
            list(array.shape),
            numpy_helper.from_array(array),
        )
    for node in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        container.add_node(
            node.op_type,
            [rename(i) for i in node.input],
            [rename(o) for o in node.output],
            op_domain=node.domain,
            op_version=versions.get(node.domain, versions.get("")),
            name=scope.get_unique_operator_name(f"{model.name}_{node.op_type}"),
            **attrs,
        )
