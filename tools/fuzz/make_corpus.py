#!/usr/bin/env python3
"""Writes the broken half of the fuzz seed corpus, tests/fuzz/corpus/<target>/, from the valid fixtures.

The valid seeds are the readers' own test fixtures (fuzz/CMakeLists.txt passes those directories to libFuzzer
too); this adds, per target, inputs that are wrong in the ways the readers must refuse: truncated, a size field
that lies, a flipped byte in a header. The layer_config target gets valid and broken architecture JSON here,
having no fixture directory of its own. Run from the repository root; the output is committed.
"""
import json
import os
import struct

ROOT = os.path.join("tests", "fuzz", "corpus")


def write(target, name, data):
    os.makedirs(os.path.join(ROOT, target), exist_ok=True)
    with open(os.path.join(ROOT, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def read(path):
    with open(path, "rb") as f:
        return f.read()


def main():
    idx = read("tests/data/fixtures/idx/u8_2x3.idx")
    write("idx", "truncated_data", idx[:-2])
    write("idx", "dims_larger_than_file", idx[:4] + struct.pack(">II", 100000, 100000) + idx[12:])
    write("idx", "bad_type_byte", idx[:2] + b"\x07" + idx[3:])
    write("idx", "truncated_gzip", read("tests/data/fixtures/idx/u8_2x3.idx.gz")[:-6])

    npy = read("tests/data/fixtures/npy/f4_2x3.npy")
    write("npy", "truncated_data", npy[:-3])
    write("npy", "header_length_past_end", npy[:8] + struct.pack("<H", 60000) + npy[10:])
    write("npy", "shape_lies", npy.replace(b"(2, 3)", b"(9, 9)"))

    write("csv", "ragged", "a,b,label\n1,2,0\n3,4\n")
    write("csv", "non_numeric", "a,b,label\n1,x,0\n")
    write("csv", "unterminated_quote", 'a,b,label\n"1,2,0\n')

    st = read("tests/io/fixtures/reference.safetensors")
    (n,) = struct.unpack("<Q", st[:8])
    write("safetensors", "header_length_past_end", struct.pack("<Q", n + 1000) + st[8:])
    write("safetensors", "truncated_data", st[:-4])
    write("safetensors", "overlapping",
          _safetensors({"a": ("F32", [2], [0, 8]), "b": ("F32", [2], [4, 12])}, 12))

    arch = {"class_name": "Sequential", "config": {"layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 4]}},
        {"class_name": "Dense", "config": {"units": 3, "activation": "relu", "use_bias": True, "dtype": "float32"}},
        {"class_name": "Dense", "config": {"units": 2, "activation": "softmax"}}]}}
    write("layer_config", "mlp.json", json.dumps(arch))
    keras = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "Dense", "config": {"batch_input_shape": [None, 784], "units": 10, "activation": "relu"}}]}}
    write("layer_config", "keras_2.json", json.dumps(keras))
    write("layer_config", "unknown_class.json", json.dumps({"class_name": "Sequential", "config": {"layers": [
        {"class_name": "Transformer", "config": {}}]}}))
    write("layer_config", "negative_units.json", json.dumps({"class_name": "Sequential", "config": {"layers": [
        {"class_name": "Dense", "config": {"units": -3}}]}}))
    write("layer_config", "truncated.json", json.dumps(arch)[:40])


def _safetensors(entries, data_len):
    header = {k: {"dtype": d, "shape": s, "data_offsets": o} for k, (d, s, o) in entries.items()}
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + bytes(data_len)


if __name__ == "__main__":
    main()
