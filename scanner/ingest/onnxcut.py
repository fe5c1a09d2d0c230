"""The line recogniser's output layer cut down to the classes Inklock keeps, in memory.

PP-OCRv6 small ends in one linear layer (120 features a frame to 18,710
classes), a bias and a softmax. Inklock keeps only 96 of them, the CTC blank
and the 95 printable ASCII characters (:mod:`scanner.ingest.linerec`): computing
the other 18,614 was a fifth of the network's time (its matrix, its bias add and a 60 MB
result for eight lines). :func:`keep_classes` rewrites the model's bytes so the
layer's weights hold the kept columns only, before ONNX Runtime loads them.

What changes is only the softmax's denominator: it now runs over the kept
classes, so each frame's probabilities sum to 1 over them. Readings are the
same (the largest kept probability stays the largest), and so is everything
computed from :func:`scanner.ingest.ctcwords.log_probs`, which renormalised
over the kept classes already (the CTC score, hence the calibrated confidence,
and the vocabulary correction).

The model is an ONNX protobuf; the few messages touched (model, graph, node,
tensor, value info) are read and written here with the wire format itself, so
no ``onnx`` package is needed. :func:`keep_classes` returns None for a model
that does not end the expected way; the caller then loads the model as it is.
"""

from __future__ import annotations

import numpy as np

# ONNX protobuf field numbers (onnx.proto3).
_MODEL_GRAPH, _MODEL_METADATA = 7, 14
_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_OUTPUT, _GRAPH_VALUE_INFO = 1, 5, 12, 13
_NODE_INPUT, _NODE_OUTPUT, _NODE_OP = 1, 2, 4
_TENSOR_DIMS, _TENSOR_TYPE, _TENSOR_NAME, _TENSOR_RAW = 1, 2, 8, 9
_VALUE_NAME, _VALUE_TYPE = 1, 2
_TYPE_TENSOR, _TENSOR_ELEM, _TENSOR_SHAPE, _SHAPE_DIM, _DIM_VALUE, _DIM_PARAM = 1, 1, 2, 1, 1, 2
_FLOAT = 1
_VARINT, _LENGTH = 0, 2


def _varint(data, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def _fields(data):
    """(field number, wire type, value, raw bytes of the whole field) of one message."""
    at, end = 0, len(data)
    while at < end:
        start = at
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, at = _varint(data, at)
        elif wire == 1:
            value, at = data[at:at + 8], at + 8
        elif wire == 5:
            value, at = data[at:at + 4], at + 4
        elif wire == _LENGTH:
            size, at = _varint(data, at)
            value, at = data[at:at + size], at + size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value, data[start:at]


def _uvarint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        if not value:
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


def _field(number: int, value: int | bytes | str) -> bytes:
    if isinstance(value, int):
        return _uvarint(number << 3 | _VARINT) + _uvarint(value)
    raw = value.encode() if isinstance(value, str) else bytes(value)
    return _uvarint(number << 3 | _LENGTH) + _uvarint(len(raw)) + raw


def _strings(message, number: int) -> list[str]:
    return [bytes(v).decode() for n, w, v, _ in _fields(message) if n == number and w == _LENGTH]


def _name(message, number: int) -> str:
    names = _strings(message, number)
    return names[0] if names else ""


def _float_tensor(message) -> np.ndarray | None:
    dims: list[int] = []
    raw = None
    kind = 0
    for number, wire, value, _ in _fields(message):
        if number == _TENSOR_DIMS:
            if wire == _VARINT:
                dims.append(value)
            else:  # packed
                at = 0
                while at < len(value):
                    dim, at = _varint(value, at)
                    dims.append(dim)
        elif number == _TENSOR_TYPE:
            kind = value
        elif number == _TENSOR_RAW:
            raw = value
    if kind != _FLOAT or raw is None or len(raw) != 4 * int(np.prod(dims)):
        return None
    return np.frombuffer(bytes(raw), "<f4").reshape(dims)


def _tensor(name: str, array: np.ndarray) -> bytes:
    array = np.ascontiguousarray(array, "<f4")
    return (b"".join(_field(_TENSOR_DIMS, d) for d in array.shape) + _field(_TENSOR_TYPE, _FLOAT)
            + _field(_TENSOR_NAME, name) + _field(_TENSOR_RAW, array.tobytes()))


def _output(name: str, classes: int) -> bytes:
    """A graph output: float, batch x frames x ``classes``."""
    dims = (_field(_SHAPE_DIM, _field(_DIM_PARAM, "lines")) + _field(_SHAPE_DIM, _field(_DIM_PARAM, "frames"))
            + _field(_SHAPE_DIM, _field(_DIM_VALUE, classes)))
    tensor = _field(_TENSOR_ELEM, _FLOAT) + _field(_TENSOR_SHAPE, dims)
    return _field(_VALUE_NAME, name) + _field(_VALUE_TYPE, _field(_TYPE_TENSOR, tensor))


def metadata(model: bytes) -> dict[str, str]:
    """The model's metadata (``metadata_props``: key -> value), as ONNX Runtime's ``custom_metadata_map``."""
    out = {}
    for number, _, value, _ in _fields(memoryview(model)):
        if number == _MODEL_METADATA:
            entry = {n: bytes(v).decode() for n, _, v, _ in _fields(value)}
            out[entry.get(1, "")] = entry.get(2, "")
    return out


def keep_classes(model: bytes, keep: list[int]) -> bytes | None:
    """``model`` with its final MatMul, Add, Softmax computing only the classes ``keep`` (in that order).

    None when the graph does not end in MatMul(features, weights) -> Add(bias)
    -> Softmax over the last axis (Identity nodes between them allowed), with
    the weights and bias stored as float tensors.
    """
    top = list(_fields(memoryview(model)))
    graphs = [value for number, _, value, _ in top if number == _MODEL_GRAPH]
    if len(graphs) != 1:
        return None
    graph = list(_fields(graphs[0]))
    outputs = [value for number, _, value, _ in graph if number == _GRAPH_OUTPUT]
    if len(outputs) != 1:
        return None
    nodes = {}
    for number, _, value, _ in graph:
        if number == _GRAPH_NODE:
            for out in _strings(value, _NODE_OUTPUT):
                nodes[out] = value
    initializers = {_name(value, _TENSOR_NAME): value for number, _, value, _ in graph if number == _GRAPH_INITIALIZER}

    def producer(tensor: str, op: str):
        """The node making ``tensor``, looking through Identity nodes; (node, its tensors passed through)."""
        through = [tensor]
        node = nodes.get(tensor)
        while node is not None and _name(node, _NODE_OP) == "Identity":
            tensor = _strings(node, _NODE_INPUT)[0]
            through.append(tensor)
            node = nodes.get(tensor)
        return (node if node is not None and _name(node, _NODE_OP) == op else None), through

    out_name = _name(outputs[0], _VALUE_NAME)
    softmax, changed = producer(out_name, "Softmax")
    if softmax is None:
        return None
    add, more = producer(_strings(softmax, _NODE_INPUT)[0], "Add")
    changed += more
    if add is None:
        return None
    add_in = _strings(add, _NODE_INPUT)
    matmul, more = producer(add_in[0], "MatMul")
    changed += more
    if matmul is None or len(add_in) != 2 or add_in[1] not in initializers:
        return None
    mm_in = _strings(matmul, _NODE_INPUT)
    if len(mm_in) != 2 or mm_in[1] not in initializers:
        return None
    weights, bias = _float_tensor(initializers[mm_in[1]]), _float_tensor(initializers[add_in[1]])
    if (weights is None or bias is None or weights.ndim != 2 or bias.shape != (weights.shape[1],)
            or max(keep) >= bias.shape[0] or not _softmax_on_last_axis(softmax)):
        return None
    cut = {mm_in[1]: _tensor(mm_in[1], weights[:, keep]), add_in[1]: _tensor(add_in[1], bias[keep])}
    stale = set(changed)  # shapes recorded for the full layer: ONNX Runtime works them out again
    parts = []
    for number, _, value, whole in graph:
        if number == _GRAPH_INITIALIZER and _name(value, _TENSOR_NAME) in cut:
            parts.append(_field(_GRAPH_INITIALIZER, cut.pop(_name(value, _TENSOR_NAME))))
        elif number == _GRAPH_VALUE_INFO and _name(value, _VALUE_NAME) in stale:
            continue
        elif number == _GRAPH_OUTPUT:
            parts.append(_field(_GRAPH_OUTPUT, _output(out_name, len(keep))))
        else:
            parts.append(bytes(whole))
    new_graph = b"".join(parts)
    return b"".join(_field(_MODEL_GRAPH, new_graph) if number == _MODEL_GRAPH else bytes(whole)
                    for number, _, _, whole in top)


def _softmax_on_last_axis(node) -> bool:
    """The Softmax's axis is the last of three (batch, frames, classes): 2 or -1."""
    for number, _, value, _ in _fields(node):
        if number == 5:  # attribute
            attrs = {n: v for n, _, v, _ in _fields(value)}
            if bytes(attrs.get(1, b"")) == b"axis":
                axis = attrs.get(3, 0)
                return axis in (2, (1 << 64) - 1)  # -1 as a protobuf int64
    return False
