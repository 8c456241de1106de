"""Cache keys (SPEC §10): type-tagged fingerprints of values, digests of definitions.

A key must be equal exactly when a cached result may be reused: values of different
types never meet (LangGraph #8009: arrays of other dtypes; Hamilton #1242), the same
value gives the same key in every process, editing a function changes its key, and
two callables never share one namespace (LangGraph #8753). What has no stable value
is refused, with the place inside the value that caused it.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import decimal
import enum
import functools
import http
import importlib
import io
import json
import math
import os
import struct
import subprocess
import sys
import textwrap
import threading
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from hypergraph.durable import Unfingerprintable, call_key, definition_key, fingerprint
from hypergraph.errors import HypergraphError

# The module (the package's `fingerprint` attribute is the function of that name).
fp = importlib.import_module("hypergraph.durable.fingerprint")


def distinct(values: list[Any]) -> None:
    """Assert that every value has its own fingerprint."""
    prints = [fingerprint(v) for v in values]
    clashes = [
        (values[i], values[j])
        for i in range(len(values))
        for j in range(i + 1, len(values))
        if prints[i] == prints[j]
    ]
    assert clashes == []


# -- types never meet -----------------------------------------------------------------


def test_values_equal_in_python_but_of_other_types_have_other_fingerprints() -> None:
    # 1 == 1.0 == True == Decimal(1) == 1+0j in Python; a cache must not treat them alike.
    distinct([1, 1.0, True, 1 + 0j, decimal.Decimal(1), "1", b"1", bytearray(b"1")])
    distinct([0, 0.0, False, None, "", b"", (), [], {}, set(), frozenset(), range(0)])
    distinct([(1,), [1], {1}, frozenset({1}), {1: None}, {"1": None}, collections.deque([1])])


def test_framing_keeps_neighbouring_values_apart() -> None:
    distinct([("ab", "c"), ("a", "bc"), ("abc",), ("a", "b", "c")])
    distinct([[[1, 2], [3]], [[1], [2, 3]], [[1, 2, 3]], [1, 2, 3]])
    distinct([b"\x00", b"\x00\x00", "\x00", 0, -1, 255, 256, 2**64, -(2**64), 10**400])


def test_equal_values_of_one_type_share_a_fingerprint() -> None:
    a = {"messages": [{"role": "user", "content": "hi"}], "n": 3, "t": (1.5, None)}
    b = json.loads(json.dumps({"messages": [{"role": "user", "content": "hi"}], "n": 3}))
    b["t"] = (1.5, None)
    assert a is not b
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(10**400) == fingerprint(10**400)


def test_dict_fingerprint_ignores_insertion_order_but_not_which_key_holds_what() -> None:
    assert fingerprint({"a": 1, "b": 2}) == fingerprint({"b": 2, "a": 1})
    assert fingerprint({1: "x", "y": 2, (3,): None}) == fingerprint({(3,): None, "y": 2, 1: "x"})
    distinct([{"a": 1, "b": 2}, {"a": 2, "b": 1}, {"a": "b"}, {"b": "a"}, [("a", 1), ("b", 2)]])


def test_sets_ignore_order_and_a_set_is_not_a_frozenset() -> None:
    assert fingerprint({3, 1, 2}) == fingerprint({1, 2, 3})
    assert fingerprint(frozenset("abc")) == fingerprint(frozenset("cba"))
    distinct([{1, 2}, frozenset({1, 2}), [1, 2], (1, 2), {1, 2, 3}])


def test_floats_keep_signed_zero_apart_and_treat_every_nan_as_one_value() -> None:
    other_nan = struct.unpack(">d", b"\x7f\xf8\x00\x00\x00\x00\x00\x01")[0]
    assert math.isnan(other_nan)
    assert fingerprint(math.nan) == fingerprint(float("nan")) == fingerprint(other_nan)
    assert fingerprint(-math.nan) == fingerprint(math.nan)
    distinct([0.0, -0.0, math.inf, -math.inf, math.nan, 5e-324, complex(0.0, -0.0), 0j])


def test_enum_members_differ_from_their_values_and_from_other_enums() -> None:
    class Color(enum.Enum):
        RED = 1

    class Level(enum.IntEnum):
        LOW = 1

    class Shade(enum.Enum):
        RED = 1

    distinct([Color.RED, Level.LOW, Shade.RED, 1, "RED"])
    assert fingerprint(Color.RED) == fingerprint(Color(1))


@dataclasses.dataclass
class Point:
    x: int
    y: list[int]


@dataclasses.dataclass
class OtherPoint:
    x: int
    y: list[int]


def test_dataclasses_are_their_type_and_fields() -> None:
    assert fingerprint(Point(1, [2])) == fingerprint(Point(1, [2]))
    distinct([Point(1, [2]), Point(1, [3]), OtherPoint(1, [2]), {"x": 1, "y": [2]}])


class FakeModel:
    """Pydantic-like: its value is what model_dump() returns."""

    def __init__(self, **fields: Any) -> None:
        self._fields = fields

    def model_dump(self) -> dict[str, Any]:
        return dict(self._fields)


class OtherModel(FakeModel):
    pass


def test_objects_with_model_dump_are_their_type_and_dump() -> None:
    assert fingerprint(FakeModel(a=1, b=[2])) == fingerprint(FakeModel(b=[2], a=1))
    distinct([FakeModel(a=1), FakeModel(a=2), OtherModel(a=1), {"a": 1}])


def test_named_tuples_and_subclasses_of_builtins_carry_their_type() -> None:
    Pair = collections.namedtuple("Pair", "a b")

    class Tag(str):
        pass

    distinct([Pair(1, 2), (1, 2), Tag("x"), "x"])
    distinct([collections.OrderedDict(a=1), {"a": 1}, collections.Counter(a=1)])
    # A defaultdict's factory decides what a missing key reads as: it is part of the value.
    distinct([collections.defaultdict(list, a=1), collections.defaultdict(int, a=1)])
    assert fingerprint(Pair(1, 2)) == fingerprint(Pair(1, 2))


def test_standard_library_value_types_have_stable_fingerprints() -> None:
    utc = datetime.UTC
    when = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=utc)
    assert fingerprint(when) == fingerprint(datetime.datetime(2024, 5, 1, 12, 0, tzinfo=utc))
    distinct(
        [
            when,
            when.replace(tzinfo=None),
            when.replace(tzinfo=datetime.timezone(datetime.timedelta(hours=1))),
            datetime.date(2024, 5, 1),
            datetime.timedelta(days=1),
            decimal.Decimal("1.0"),
            decimal.Decimal("1.00"),
            "2024-05-01",
        ]
    )


# -- arrays (LangGraph #8009) ---------------------------------------------------------


class FakeDtype:
    def __init__(self, name: str, code: str) -> None:
        self.name, self.str, self.kind, self.hasobject = name, code, code[1], False

    def __str__(self) -> str:
        return self.name


class FakeArray:
    """Just enough of numpy's ndarray: dtype, shape and raw bytes (no numpy needed)."""

    def __init__(self, data: bytes, dtype: FakeDtype, shape: tuple[int, ...]) -> None:
        self.dtype, self.shape, self._data = dtype, shape, data

    def tobytes(self) -> bytes:
        return self._data


def test_arrays_with_the_same_bytes_but_another_dtype_or_shape_differ() -> None:
    zeros = bytes(24)
    int32 = FakeArray(zeros, FakeDtype("int32", "<i4"), (6,))
    float32 = FakeArray(zeros, FakeDtype("float32", "<f4"), (6,))
    int64 = FakeArray(zeros, FakeDtype("int64", "<i8"), (3,))
    grid = FakeArray(zeros, FakeDtype("int32", "<i4"), (2, 3))
    distinct([int32, float32, int64, grid, zeros])
    assert fingerprint(int32) == fingerprint(FakeArray(bytes(24), FakeDtype("int32", "<i4"), (6,)))


def test_an_array_whose_bytes_cannot_be_read_is_refused() -> None:
    class Broken(FakeArray):
        def tobytes(self) -> bytes:
            raise MemoryError("too big")

    with pytest.raises(Unfingerprintable, match="reading it as an array failed"):
        fingerprint([Broken(b"", FakeDtype("int8", "|i1"), (0,))])


def test_numpy_arrays_are_keyed_by_dtype_shape_and_content() -> None:
    np = pytest.importorskip(
        "numpy", reason="numpy is not in the test extra; FakeArray covers the same code path"
    )
    a = np.zeros(6, dtype=np.int32)
    distinct(
        [
            a,
            np.zeros(6, dtype=np.float32),
            np.zeros(3, dtype=np.int64),
            a.reshape(2, 3),
            np.ones(6, dtype=np.int32),
        ]
    )
    assert fingerprint(a) == fingerprint(np.zeros(6, dtype=np.int32))
    objects = np.array(["a", None], dtype=object)  # raw bytes would be pointers
    assert fingerprint(objects) == fingerprint(np.array(["a", None], dtype=object))
    distinct([objects, np.array(["b", None], dtype=object)])


# -- cycles ---------------------------------------------------------------------------


def test_self_referencing_containers_have_a_finite_stable_fingerprint() -> None:
    a: list[Any] = [1]
    a.append(a)
    b: list[Any] = [1]
    b.append(b)
    d: dict[str, Any] = {}
    d["self"] = d
    assert fingerprint(a) == fingerprint(b)
    distinct([a, [1, []], [1, [1]], d, {"self": {}}])


def test_a_value_shared_twice_is_not_mistaken_for_a_cycle() -> None:
    shared = [1, 2]
    assert fingerprint([shared, shared]) == fingerprint([[1, 2], [1, 2]])


# -- refusals -------------------------------------------------------------------------


def test_unfingerprintable_names_where_inside_the_value_the_problem_is() -> None:
    messages = [{"role": "user"}, {"role": "assistant"}, {"client": threading.Lock()}]
    with pytest.raises(Unfingerprintable) as caught:
        fingerprint(messages, root="messages")
    err = caught.value
    assert isinstance(err, HypergraphError)
    assert err.path == "messages[2]['client']"
    assert err.type_name == "_thread.lock"
    assert "'messages[2]['client']'" in str(err) and "How to fix" in str(err)


def test_paths_through_dataclass_fields_and_models() -> None:
    @dataclasses.dataclass
    class Job:
        name: str
        handle: Any

    with pytest.raises(Unfingerprintable) as caught:
        fingerprint({"jobs": [Job("a", io.StringIO())]}, root="x")
    assert caught.value.path == "x['jobs'][0].handle"
    with pytest.raises(Unfingerprintable) as caught:
        fingerprint(FakeModel(cb=threading.Event()), root="m")
    assert caught.value.path == "m.model_dump()['cb']"


class Opaque:
    def __init__(self, x: int) -> None:
        self.x = x

    def __repr__(self) -> str:
        return "Opaque()"  # the same for every instance: repr() would collide


class FakeModelThatFails:
    def model_dump(self) -> dict[str, Any]:
        raise RuntimeError("not dumpable")


def stream() -> Any:
    yield 1


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(Opaque(1), id="object-without-a-declared-value"),
        pytest.param(stream(), id="generator"),
        pytest.param(threading.Lock(), id="lock"),
        pytest.param(io.BytesIO(b"x"), id="open-file"),
        pytest.param(Point, id="user-class"),
        pytest.param(object(), id="bare-object"),
        pytest.param(mock.MagicMock(), id="mock-that-has-every-attribute"),
        pytest.param(FakeModelThatFails(), id="model-dump-that-raises"),
    ],
)
def test_values_without_a_stable_value_are_refused_not_guessed(value: Any) -> None:
    with pytest.raises(Unfingerprintable) as caught:
        fingerprint({"v": [value]})
    assert caught.value.path == "value['v'][0]"


def test_an_open_file_is_refused(tmp_path: Any) -> None:
    with open(tmp_path / "f.txt", "w") as handle, pytest.raises(Unfingerprintable):
        fingerprint(handle)


def test_values_nested_too_deeply_are_refused_with_a_clear_error() -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(Unfingerprintable, match="nested too deeply"):
        fingerprint(deep, root="tree")


# -- stability across processes --------------------------------------------------------

SAMPLES = textwrap.dedent(
    """
    import datetime, decimal, http, uuid
    SAMPLES = [
        {"b": [1, 2.5, None], "a": ("x", b"y"), 3: {"nested": {True, False}}},
        {"alpha", "beta", "gamma", "delta"},
        frozenset({("k", 1), ("j", 2)}),
        {frozenset({"p", "q"}): "v", "w": {"s", "t"}},
        http.HTTPStatus.OK,
        datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.timezone.utc),
        decimal.Decimal("3.14"),
        uuid.UUID(int=42),
        -0.0,
        float("nan"),
        10**100,
    ]
    """
)


def test_fingerprints_are_the_same_in_another_process_with_another_hash_seed() -> None:
    namespace: dict[str, Any] = {}
    exec(SAMPLES, namespace)
    here = [fingerprint(v) for v in namespace["SAMPLES"]]
    code = SAMPLES + textwrap.dedent(
        """
        import json
        from hypergraph.durable import fingerprint
        print(json.dumps([fingerprint(v) for v in SAMPLES]))
        """
    )
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
        )
        assert json.loads(out.stdout) == here


# -- definition keys ------------------------------------------------------------------


def load(source: str, module: str = "nodes_v1", **globals_: Any) -> types.FunctionType:
    """Define the one function in `source` inside a fresh module named `module`."""
    namespace: dict[str, Any] = {"__name__": module, **globals_}
    # dont_inherit: this file's `from __future__ import annotations` would set a code flag.
    exec(compile(textwrap.dedent(source), module, "exec", dont_inherit=True), namespace)
    functions = [
        v for k, v in namespace.items() if isinstance(v, types.FunctionType) and k != "helper"
    ]
    assert len(functions) == 1
    return functions[0]


SUMMARIZE = """
def summarize(text: str, words: int = 50) -> str:
    return f"Summarize in {words} words: {text}"
"""


def test_definition_key_is_the_same_for_the_same_source() -> None:
    assert definition_key(load(SUMMARIZE)) == definition_key(load(SUMMARIZE))


def test_definition_key_changes_when_the_body_is_edited() -> None:
    edited = SUMMARIZE.replace("Summarize in", "Summarise in")
    assert definition_key(load(SUMMARIZE)) != definition_key(load(edited))
    changed_logic = SUMMARIZE.replace("{words} words", "{words + 1} words")
    assert definition_key(load(SUMMARIZE)) != definition_key(load(changed_logic))


def test_definition_key_ignores_comments_and_where_the_function_sits() -> None:
    moved = "\n\n\n# a comment above\n" + SUMMARIZE.replace(
        "    return", "    # why: the prompt\n    return"
    )
    assert definition_key(load(SUMMARIZE)) == definition_key(load(moved))


def test_same_named_functions_in_two_modules_do_not_share_keys() -> None:
    assert definition_key(load(SUMMARIZE, "app.nodes")) != definition_key(
        load(SUMMARIZE, "eval.nodes")
    )


def test_definition_key_changes_with_defaults_closures_and_named_globals() -> None:
    base = definition_key(load(SUMMARIZE))
    assert base != definition_key(load(SUMMARIZE.replace("= 50", "= 60")))

    uses_global = "def ask(q):\n    return PROMPT + q\n"
    assert definition_key(load(uses_global, PROMPT="Be brief. ")) != definition_key(
        load(uses_global, PROMPT="Be thorough. ")
    )

    def make(model: str) -> Callable[[str], str]:
        def ask(q: str) -> str:
            return model + q

        return ask

    assert definition_key(make("small")) == definition_key(make("small"))
    assert definition_key(make("small")) != definition_key(make("large"))


def test_editing_a_helper_the_function_calls_changes_its_key() -> None:
    caller = "def helper(x):\n    return x + 1\n\ndef run(x):\n    return helper(x)\n"
    edited = caller.replace("x + 1", "x + 2")
    assert definition_key(load(caller)) != definition_key(load(edited))


def test_a_client_the_function_reads_or_defaults_to_counts_by_its_type_only() -> None:
    uses_client = "def ask(q):\n    return CLIENT.send(q)\n"
    first = load(uses_client, CLIENT=threading.Lock())
    second = load(uses_client, CLIENT=threading.Lock())
    assert definition_key(first) == definition_key(second)
    assert definition_key(first) != definition_key(load(uses_client, CLIENT=threading.Event()))
    with_default = "def ask(q, client=CLIENT):\n    return client.send(q)\n"
    assert definition_key(load(with_default, CLIENT=threading.Lock())) == definition_key(
        load(with_default, CLIENT=threading.Lock())
    )


LIBRARY = """
STATE = {"calls": 0}

def helper(x):
    STATE["calls"] += 1
    return x

def retry(func):
    def wrapper(*args):
        return func(*args)
    return wrapper
"""


def test_installed_libraries_are_not_walked_through_their_module_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = tmp_path / "lib_pkg.py"
    library.write_text(LIBRARY)
    namespace: dict[str, Any] = {"__name__": "lib_pkg"}
    exec(compile(LIBRARY, str(library), "exec"), namespace)
    caller = load("def run(x):\n    return helper(x)\n", helper=namespace["helper"])

    before = definition_key(caller)
    namespace["helper"](1)  # user code's globals count: its state is part of its key
    assert definition_key(caller) != before

    monkeypatch.setattr(fp, "_is_library", lambda filename: filename == str(library))
    before = definition_key(caller)
    namespace["helper"](1)  # a library's caches and counters must not churn the key
    assert definition_key(caller) == before


def test_a_library_decorator_keeps_the_decorated_functions_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = tmp_path / "lib_pkg.py"
    namespace: dict[str, Any] = {"__name__": "lib_pkg"}
    exec(compile(LIBRARY, str(library), "exec"), namespace)
    monkeypatch.setattr(fp, "_is_library", lambda filename: filename == str(library))
    first = namespace["retry"](load(SUMMARIZE))
    second = namespace["retry"](load(SUMMARIZE.replace("50", "5")))
    assert first.__code__ is second.__code__
    assert definition_key(first) != definition_key(second)


def test_functools_wrappers_are_keyed_by_what_they_wrap() -> None:
    first = functools.lru_cache(load(SUMMARIZE))
    second = functools.lru_cache(load(SUMMARIZE.replace("50", "5")))
    assert definition_key(first) != definition_key(second)
    assert definition_key(first) == definition_key(functools.lru_cache(load(SUMMARIZE)))


def test_recursive_functions_have_a_finite_key() -> None:
    source = "def fact(n):\n    return 1 if n < 2 else n * fact(n - 1)\n"
    assert definition_key(load(source)) == definition_key(load(source))
    assert definition_key(load(source)) != definition_key(load(source.replace("2", "3")))


def test_definition_keys_are_the_same_in_another_process() -> None:
    # Set literals compile to frozenset constants whose order follows the hash seed.
    source = "def kind(x):\n    return x in {'alpha', 'beta', 'gamma'} and LIMIT\n"
    here = definition_key(load(source, LIMIT={"a": 1, "b": 2}))
    code = textwrap.dedent(
        f"""
        from hypergraph.durable import definition_key
        ns = {{"__name__": "nodes_v1", "LIMIT": {{"b": 2, "a": 1}}}}
        exec({source!r}, ns)
        print(definition_key(ns["kind"]))
        """
    )
    for seed in ("3", "4"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
        )
        assert out.stdout.strip() == here


class Scorer:
    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def __call__(self, score: float) -> bool:
        return score > self.threshold


class StrictScorer(Scorer):
    def __call__(self, score: float) -> bool:
        return score >= self.threshold


class Client:
    def __init__(self) -> None:
        self.lock = threading.Lock()

    def __call__(self, prompt: str) -> str:
        return prompt


def test_callable_objects_are_keyed_by_their_class_and_state() -> None:
    # LangGraph #8753: two callable objects must not share one cache namespace.
    assert definition_key(Scorer(0.5)) == definition_key(Scorer(0.5))
    keys = {definition_key(Scorer(0.5)), definition_key(Scorer(0.7))}
    keys.add(definition_key(StrictScorer(0.5)))
    assert len(keys) == 3


def test_callable_objects_without_a_stable_state_are_refused() -> None:
    with pytest.raises(Unfingerprintable) as caught:
        definition_key(Client())
    assert caught.value.path.endswith("Client().lock")


def test_partials_and_bound_methods_include_what_they_are_bound_to() -> None:
    def scale(x: float, factor: float) -> float:
        return x * factor

    assert definition_key(functools.partial(scale, factor=2)) != definition_key(
        functools.partial(scale, factor=3)
    )
    assert definition_key(Scorer(0.5).__call__) != definition_key(Scorer(0.6).__call__)
    assert definition_key(len) != definition_key(abs)
    assert definition_key(str.upper) != definition_key(str.lower)
    with pytest.raises(Unfingerprintable):
        definition_key(functools.partial(scale, factor=threading.Lock()))


def test_functions_as_values_are_fingerprinted_by_their_definition() -> None:
    assert fingerprint(load(SUMMARIZE)) == fingerprint(load(SUMMARIZE))
    distinct([load(SUMMARIZE), load(SUMMARIZE.replace("50", "5")), len, print, str])


def test_http_status_is_an_enum_not_its_int() -> None:
    distinct([http.HTTPStatus.OK, 200])


# -- call keys ------------------------------------------------------------------------


def test_call_key_is_order_free_and_depends_on_definition_and_every_input() -> None:
    assert call_key("d", {"a": 1, "b": [2]}) == call_key("d", {"b": [2], "a": 1})
    keys = {
        call_key("d", {"a": 1, "b": [2]}),
        call_key("e", {"a": 1, "b": [2]}),
        call_key("d", {"a": 1, "b": [3]}),
        call_key("d", {"a": [2], "b": 1}),
        call_key("d", {"a": 1}),
    }
    assert len(keys) == 5


def test_call_key_refusal_names_the_input() -> None:
    with pytest.raises(Unfingerprintable) as caught:
        call_key("d", {"question": "hi", "messages": [{"client": threading.Lock()}]})
    assert caught.value.path == "messages[0]['client']"
