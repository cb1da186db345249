"""The error codes are defined once (ember_status_t); C++, Python and the docs agree with it."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from ember import errors

REPO = Path(__file__).resolve().parents[2]
INCLUDE = REPO / "runtime_cpp" / "include" / "ember"


def c_status_codes() -> dict[str, tuple[int, str]]:
    """EMBER_NAME -> (value, meaning) from the enum's comments in c_api.h."""
    header = (INCLUDE / "c_api.h").read_text()
    enum = header[header.index("typedef enum {") : header.index("} ember_status_t;")]
    found = re.findall(r"(EMBER_\w+) = (\d+),\s*/\*!< (.*?) \*/", enum)
    assert len(found) == enum.count(" = "), "every status has a value and a comment"
    return {name: (int(value), meaning) for name, value, meaning in found}


def camel(c_name: str) -> str:
    """EMBER_INVALID_ARGUMENT -> kInvalidArgument."""
    return "k" + "".join(w.capitalize() for w in c_name.removeprefix("EMBER_").split("_"))


def python_classes_by_code() -> dict[int, set[str]]:
    found: dict[int, set[str]] = {}
    for name, cls in inspect.getmembers(errors, inspect.isclass):
        if issubclass(cls, errors.EmberError) and cls is not errors.EmberError:
            found.setdefault(cls.code, set()).add(name)
    return found


def doc_rows() -> list[list[str]]:
    text = (REPO / "docs" / "errors.md").read_text()
    rows = [line for line in text.splitlines() if re.match(r"\| \d+ \|", line)]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def test_codes_are_distinct_and_start_at_ok():
    codes = c_status_codes()
    values = [value for value, _ in codes.values()]
    assert codes["EMBER_OK"][0] == 0
    assert sorted(values) == list(range(len(values)))


def test_cpp_error_code_takes_every_value_from_the_c_enum():
    header = (INCLUDE / "runtime.h").read_text()
    enum = header[header.index("enum class ErrorCode") :]
    enum = enum[: enum.index("};")]
    pairs = dict(re.findall(r"(k\w+) = (EMBER_\w+),", enum))
    assert pairs == {camel(name): name for name in c_status_codes()}


def test_python_classes_use_the_c_codes():
    codes = {value for value, _ in c_status_codes().values()}
    by_code = python_classes_by_code()
    assert set(by_code) == codes - {0}, "every failure code has a Python class, and no other"
    for code, cls in errors.RUNTIME_ERROR_CLASSES.items():
        assert cls.code == code
    assert set(errors.RUNTIME_ERROR_CLASSES) == codes - {0}


def test_compile_errors_have_their_own_code():
    assert errors.CompileError.code not in {
        errors.ExecutionError.code,
        errors.InternalError.code,
    }


def test_docs_table_matches_header_and_python():
    codes = c_status_codes()
    by_code = python_classes_by_code()
    rows = doc_rows()
    assert len(rows) == len(codes)
    for (name, (value, meaning)), row in zip(
        sorted(codes.items(), key=lambda item: item[1][0]), rows, strict=True
    ):
        code, c_name, cpp_name, python, doc_meaning = row
        assert int(code) == value
        assert c_name == f"`{name}`"
        assert cpp_name == f"`{camel(name)}`"
        assert set(re.findall(r"`(\w+)`", python)) == by_code.get(value, set()), row
        assert doc_meaning == meaning
