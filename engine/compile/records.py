"""Turn a raw proposal (strings from a CSV cell, JSON values, Python values) into a typed record.

Every field of the policy's schema is present in the record, with None for a missing value.
An empty or blank cell is missing. Columns the schema does not name are ignored. Numbers and dates
written as text are read as the input profile declares (engine/io/profile.py); without one, only what
reads one way is read, and a value that reads two ways is an ``ambiguous_value`` problem.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from engine.errors import did_you_mean
from engine.expr.evaluate import MEMO_TRIAL, remembered
from engine.expr.nodes import Node, fields_of
from engine.expr.values import DIGITS, NotYesNo, ValueProblem, display, to_bool, to_number, to_text
from engine.io.profile import UNDECLARED, InputProfile
from engine.io.profile import field_key as _normal  # the forgiving match of headers to fields
from engine.policy.models import FieldSpec

if TYPE_CHECKING:
    from decimal import Decimal

    from engine.compile.strategy import Alignment, CompiledStrategy

# One cell's text typed, as a memo entry: (True, value) or (False, code, message).
Memo = tuple[Literal[True], Any] | tuple[Literal[False], str, str]

MAX_TEXT = 10_000
MAX_LIST = 1_000
MEMO_CELLS = 4_096  # typed cells remembered per column (see RecordReader.read)


Problem = tuple[str | None, str, str]  # an unusable column: (column, code, message)
_Match = tuple[list[str | None], list[Problem]]  # the raw key feeding each field, and the keys that clash


class RecordError(ValueError):
    """One or more columns of a proposal are unusable: ``problems`` is a list of (column, code, message)."""

    def __init__(self, problems: list[tuple[str | None, str, str]]):
        super().__init__("; ".join(m for _, _, m in problems))
        self.problems = problems


def _text(value: Any) -> str:
    # ASCII text is valid Unicode: the common case skips to_text's check (an encoding of the whole text)
    text = value.strip() if value.__class__ is str and value.isascii() else to_text(value)
    if len(text) > MAX_TEXT:
        raise ValueProblem(f"text is {len(text)} characters long; the limit is {MAX_TEXT}")
    return text


def _numbers(profile: InputProfile, money: bool = False) -> Callable[[Any], Decimal]:
    """Cell text read as the profile says numbers are written (without one: only what reads one way), then
    checked by the numeric model."""
    def number(value: Any) -> Decimal:
        if value.__class__ is str and len(value) <= DIGITS and value.isdigit() and value.isascii():
            return Decimal(value)  # plain digits read one way in every format and fit the model: as the path below
        result = to_number(profile.number(value, money))
        if money and value.__class__ is not str and result != result.to_integral_value():  # a workbook's or JSON's number
            profile.check_places(value, result)  # (text was checked as it was read, with the currency it carries)
        return result
    return number


def _integers(profile: InputProfile) -> Callable[[Any], Decimal]:
    number = _numbers(profile)

    def integer(value: Any) -> Decimal:
        whole = number(value)
        if whole != whole.to_integral_value():
            raise ValueProblem(f"{whole} is not a whole number")
        return whole
    return integer


def _list_items(value: Any) -> list[Any]:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text, parse_float=str, parse_int=str)
            except ValueError:
                raise ValueProblem("list is not valid JSON; write [1, 2, 3] or 1;2;3") from None
        else:
            value = [part for part in text.split(";")]
    if not isinstance(value, (list, tuple)):
        raise ValueProblem(f"expected a list, got {type(value).__name__}")
    if len(value) > MAX_LIST:
        raise ValueProblem(f"list has {len(value)} items; the limit is {MAX_LIST}")
    return list(value)


class OutOfRange(ValueProblem):
    """A value of the right type outside the field's declared min and max."""

    code = "out_of_range"


def converter(spec: FieldSpec, strategy: CompiledStrategy | None = None,
              profile: InputProfile = UNDECLARED) -> Callable[[Any], Any]:
    """The function that types one value of this field and checks its range (raises ValueProblem). Cell text
    is read as ``profile`` declares (number and date formats); without one, nothing is guessed."""
    typed = _typed(spec, strategy, profile)
    if spec.min is None and spec.max is None:
        return typed
    low, high = spec.min, spec.max

    def within(value: Any) -> Any:
        result = typed(value)
        if low is not None and result < low:
            raise OutOfRange(f"{display(result)} is below the minimum {display(low)}")
        if high is not None and result > high:
            raise OutOfRange(f"{display(result)} is above the maximum {display(high)}")
        return result
    return within


def _yes_no(value: Any) -> bool:
    """to_bool, for a reader that takes an input profile: saying that other words can be mapped in one (the text
    of the outputs before NO_PROFILE, byte for byte: tests/test_output_golden.py)."""
    try:
        return to_bool(value)
    except NotYesNo as exc:
        raise ValueProblem(f"{exc}, or map your words in an input profile's values: (--columns; see the README's "
                           "input profiles)") from None


def _typed(spec: FieldSpec, strategy: CompiledStrategy | None, profile: InputProfile) -> Callable[[Any], Any]:
    kind = spec.type
    if kind == "alignment":
        if strategy is None:
            raise ValueProblem("an alignment field needs a strategy policy (kind: strategy)")
        if profile.alignment_strength is None:
            return strategy.alignment
        return _with_strength(strategy, profile.alignment_strength)
    if kind in ("number", "money"):
        return _numbers(profile, kind == "money")
    if kind == "integer":
        return _integers(profile)
    if kind == "bool":
        return to_bool if profile.where is None else _yes_no
    if kind == "date":
        return profile.date
    if kind == "enum":
        allowed: dict[str, str] = {}
        for v in spec.values or []:  # in their order (messages list them); the first of values alike in case
            allowed.setdefault(v.lower(), v)
        exact = frozenset(spec.values or [])  # (which the policy refuses: an exact value is never another's)

        def enum(value: Any) -> str:
            text = _text(value)
            if text in exact:
                return text
            found = allowed.get(text.lower())
            if found is None:
                hint = did_you_mean(text, allowed.values())
                raise ValueProblem(f"'{text}' is not one of: {', '.join(allowed.values())}"
                                   + (f"; {hint}" if hint else ""))
            return found
        return enum
    if kind == "list":
        item = _text if spec.items == "string" else _numbers(profile, spec.items == "money")

        def items(value: Any) -> tuple[Any, ...]:
            out = []
            for i, part in enumerate(_list_items(value), 1):
                if isinstance(part, str) and not part.strip():
                    raise ValueProblem(f"item {i} is empty")
                try:
                    out.append(item(part))
                except ValueProblem as exc:
                    raise ValueProblem(f"item {i}: {exc}") from None
            return tuple(out)
        return items
    return _text


def _with_strength(strategy: CompiledStrategy, strength: str) -> Callable[[Any], Any]:
    """A pick-list cell naming objectives without levels ('Grid Resilience' mapped to grid-resilience)
    serves each at the profile's default strength; a cell with levels is read as it is."""
    def alignment(value: Any) -> Alignment:
        if isinstance(value, str) and not value.strip().startswith("{") and ":" not in value and "=" not in value:
            parts = [p.strip() for p in value.replace(",", ";").split(";") if p.strip()]
            value = ";".join(f"{p}:{strength}" for p in parts)
        return strategy.alignment(value)
    return alignment


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


Derived = list[tuple[str, Callable[[Mapping[str, Any]], Any]]]  # (name, its compiled expression), in dependency order


class DerivedValues(list):  # type: ignore[type-arg]
    """``Derived`` with the fields each value reads (``reads``, in the same order): what ``read_many`` keys
    its memo of derived values by."""

    reads: list[tuple[str, ...]]


def compiled_derived(derived: Iterable[tuple[str, Node]]) -> Derived:
    """A policy's derived values (name, expression tree) with each expression compiled once, and remembered by
    the values of the one or two fields it reads (engine.expr.evaluate.remembered: npv(0.08, cash_flows),
    days_between(start_date, end_date) repeat across the rows of a batch)."""
    derived = list(derived)
    values = DerivedValues((name, remembered(node)) for name, node in derived)
    values.reads = [tuple(sorted(fields_of(node))) for _, node in derived]
    return values


_BAD = object()  # read_many: a cell that is a problem (never remembered), a derived value not yet remembered


class _Cells(dict):  # type: ignore[type-arg]
    """One field's memo for ``read_many``: cell text -> typed value, filled on a miss by ``typed`` (the cell
    typed as ``RecordReader._one`` types it). A text that is a problem is not remembered: it is _BAD each
    time, and counted in ``bad``. Emptied at MEMO_CELLS entries, as the memos of ``read``."""

    __slots__ = ("typed", "bad", "misses")

    def __init__(self, typed: Callable[[str], Memo]):
        super().__init__()
        self.typed, self.bad, self.misses = typed, 0, 0

    def __missing__(self, text: str) -> Any:
        self.misses += 1
        known = self.typed(text)
        if not known[0]:
            self.bad += 1
            return _BAD
        if len(self) >= MEMO_CELLS:
            self.clear()
        self[text] = known[1]
        return known[1]


class _DerivedMemo:
    """One derived value's memo for ``read_many`` (cell texts -> value), given up, as
    engine.expr.evaluate.remembered gives up, when under one in ten of its first MEMO_TRIAL texts repeat."""

    __slots__ = ("values", "hits", "misses", "on", "layout")

    def __init__(self) -> None:
        self.values: dict[Any, Any] = {}
        self.layout: tuple[bool, ...] = ()  # which of the fields read have a column (the memo's keys are theirs)
        self.hits, self.misses, self.on = 0, 0, True

    def missed(self) -> None:
        self.misses += 1
        if self.misses >= MEMO_TRIAL and self.hits * 10 < self.misses:
            self.on = False
            self.values.clear()


def _plain_texts(cells: list[str]) -> list[str] | None:
    """A text column's cells typed as ``_text`` types them, when every cell is ASCII, not blank and not too
    long (None otherwise: each is typed on its own); C-level passes over the column."""
    texts = list(map(str.strip, cells))
    if all(texts) and all(map(str.isascii, cells)) and max(map(len, texts)) <= MAX_TEXT:
        return texts
    return None


def _plain_numbers(low: Any, high: Any) -> Callable[[list[str]], list[Decimal] | None]:
    """A number column's cells typed as ``_numbers`` (then the range check) types them, when every cell is
    plain digits that fit the numeric model and the column is within the field's min and max."""
    def numbers(cells: list[str]) -> list[Decimal] | None:
        if max(map(len, cells)) <= DIGITS and all(map(str.isdigit, cells)) and all(map(str.isascii, cells)):
            values = list(map(Decimal, cells))
            if (low is None or not min(values) < low) and (high is None or not max(values) > high):
                return values
        return None
    return numbers


def _plain_column(spec: FieldSpec, convert: Callable[[Any], Any]) -> Callable[[list[str]], list[Any] | None] | None:
    """The C-level path of a field's column for ``read_many`` (plain text, plain digits), or None."""
    if convert is _text:
        return _plain_texts
    if spec.type in ("number", "money", "integer"):
        return _plain_numbers(spec.min, spec.max)
    return None


class RecordReader:
    """Types raw proposals against one field schema."""

    def __init__(self, fields: Mapping[str, FieldSpec], strategy: CompiledStrategy | None = None,
                 profile: InputProfile = UNDECLARED):
        self.profile = profile
        self._fields = [(name, spec.required, converter(spec, strategy, profile), spec.default)
                        for name, spec in fields.items()]
        self._maps = [profile.values.get(name, profile.values.get(_normal(name))) for name in fields]
        self._aliases = [[_normal(a) for a in spec.aliases] for spec in fields.values()]
        self._columns: dict[tuple[str, ...], _Match] = {}  # a raw record's keys -> its key for each field, and clashes
        self._memos: list[dict[str, Memo]] = [{} for _ in self._fields]  # per field: cell text -> typed (see read)
        self._readers: dict[tuple[str, ...], Callable[[Mapping[str, Any]], dict[str, Any]]] = {}  # raw keys -> reader
        self._cells = [_Cells(self._cell_typer(i)) for i in range(len(self._fields))]  # read_many's memos
        self._plain = [_plain_column(spec, convert) if mapped is None else None  # read_many's C-level paths
                       for spec, (_, _, convert, _), mapped in zip(fields.values(), self._fields, self._maps)]
        self._unique = [False] * len(self._fields)  # a column whose cells hardly repeat: its plain path first
        self._derived_memos: dict[int, tuple[Derived, list[_DerivedMemo]]] = {}  # id(derived) -> memos

    def _columns_for(self, raw: Mapping[str, Any]) -> list[str | None]:
        """Which raw key feeds each field: the field's own name, else a header such as "Budget" or "start date",
        else one of the field's aliases. Every row of a file has the same keys, so this is worked out once per
        file, not once per row."""
        return self._match(raw)[0]

    def _clashes(self, raw: Mapping[str, Any]) -> list[Problem]:
        """The problems of a record with two keys that feed one field ("budget" and "Budget", or a field's
        name and its alias): either could be meant, so the record cannot be read (RecordError's problems)."""
        return self._match(raw)[1]

    def _match(self, raw: Mapping[str, Any]) -> _Match:
        keys = tuple(raw)
        found = self._columns.get(keys)
        if found is None:
            normal = {_normal(str(k)): k for k in keys}
            columns = [name if name in raw else normal.get(name.lower(), next(
                (normal[a] for a in aliases if a in normal), None))
                for (name, *_), aliases in zip(self._fields, self._aliases)]
            clashes: list[Problem] = []
            for (name, *_), aliases in zip(self._fields, self._aliases):
                named = [k for k in keys if k == name or _normal(str(k)) in (name.lower(), *aliases)]
                if len(named) > 1:
                    said = " and ".join(map(repr, named))
                    clashes.append((name, "duplicate_key", f"keys {said} all name field '{name}' (they differ only in "
                                    "case or spacing, or one is its alias): which is meant cannot be known; keep one"))
            found = (columns, clashes)
            if len(self._columns) < 256:  # JSON records may each have other keys: keep the cache small
                self._columns[keys] = found
        return found

    def read_derived(self, raw: Mapping[str, Any], derived: Derived) -> dict[str, Any]:
        """The typed record with its derived values filled in (``compiled_derived``); raises RecordError."""
        record = self.read(raw)
        for name, value in derived:
            record[name] = value(record)
        return record

    def raw(self, raw: Mapping[str, Any], name: str) -> Any:
        """The untyped value of field ``name`` in a raw record, found as ``read`` finds it (aliases too)."""
        for (field, *_), column in zip(self._fields, self._columns_for(raw)):
            if field == name:
                return raw[column] if column is not None else None
        return None

    @property
    def names(self) -> list[str]:
        return [name for name, *_ in self._fields]

    def unused_keys(self, raw: Mapping[str, Any]) -> list[Any]:
        """The keys of a raw record that feed no field (as ``read`` finds them, aliases too): ignored when read."""
        used = set(self._columns_for(raw))
        return [key for key in raw if key not in used]

    def columns_of(self, keys: Iterable[Any]) -> list[Any]:
        """The key of a file's columns (``keys``) that feeds each field, in the fields' order (None: no column)."""
        return self._columns_for(dict.fromkeys(keys))

    def header_problems(self, keys: Iterable[Any], required: bool = True, subject: str = "the policy") -> list[str]:
        """What is probably wrong with a file's columns, said once per file: a column that looks like a
        misspelt field (it would be ignored), and a required field with no column at all. ``subject``: whose
        fields these are, as messages name it (the policy; a status report)."""
        keys = list(keys)
        columns, found, missing, misspelt = self._placed(keys)
        problems = [f"column '{key}' is not a field of {subject} and is ignored; {hint} (rename it, or map it with "
                    "--columns)" for key, hint in misspelt.items()]
        unknown = [str(key) for key in keys if key not in columns and key not in misspelt and str(key).strip()]
        if unknown and missing:  # no close spelling, but a column the policy cannot place may hold a missing field
            one, few = len(unknown) == 1, len(missing) == 1
            problems.append(f"{_listed('column', unknown)} {'matches' if one else 'match'} no field of {subject} "
                            f"and {'is' if one else 'are'} ignored, while {_listed('field', missing, shown=20)} "
                            f"{'has' if few else 'have'} no column; if a column holds "
                            f"{'it' if few else 'one of them'}, rename it or map it with --columns")
        problems += [f"there is no column for the required field '{name}', so every row is an error row"
                     for name, needed, *_ in self._fields if required and needed and name not in found]
        return problems

    def misspelt(self, keys: Iterable[Any]) -> dict[Any, str]:
        """The keys that are no field but are spelt like a field no other key gives, each with its hint (did you
        mean 'budget'?)."""
        return self._placed(list(keys))[3]

    def _placed(self, keys: list[Any]) -> tuple[Any, set[str], list[str], dict[Any, str]]:
        """The fields' columns among ``keys``, the fields found, those missing, and the misspelt keys' hints."""
        columns = self._columns_for(dict.fromkeys(keys))
        found = {name for (name, *_), column in zip(self._fields, columns) if column is not None}
        missing = [name for name, *_ in self._fields if name not in found]
        misspelt = {}
        for key in keys:
            hint = None if key in columns else did_you_mean(_normal(str(key)), missing)
            if hint:
                misspelt[key] = hint
        return columns, found, missing, misspelt

    def read_many(self, raws: Sequence[Any], derived: Derived | None = None) -> list[dict[str, Any] | Exception]:
        """``read_derived`` of each raw record: its typed record with the derived values, or the exception
        read_derived raises for it (a RecordError, or what a derived value raised), the same values and the
        same errors. A chunk of CSV rows (dicts of text with the same keys) is read by columns: each field's
        cells typed together, through the field's memo of cell text -> typed value (``_Cells``), or, for a
        column whose cells hardly repeat (ids, titles, amounts), by C-level passes when every cell is plain
        (``_plain_column``); a row with an unusable cell is read again by ``read_derived``, which names its
        problems. Derived values are remembered by the text of the cells they read (``_derive``). Other
        records (JSON values, mixed keys) are read one by one."""
        n = len(raws)
        if not n:
            return []
        derived = [] if derived is None else derived
        first = raws[0]
        keys = tuple(first) if first.__class__ is dict else None
        if keys is None or self._clashes(first) or not all(raw.__class__ is dict and tuple(raw) == keys for raw in raws):
            return [self._derived_one(raw, derived) for raw in raws]
        typed: list[Any] = []
        texts: dict[str, list[str]] = {}  # field -> its cells' text
        bad: set[int] = set()  # rows with an unusable cell
        for i, column in enumerate(self._columns_for(first)):
            if column is None:
                known = self._typed_once(i)
                if not known[0]:  # a required field without a column: every row is an error row
                    return [self._derived_one(raw, derived) for raw in raws]
                typed.append([known[1]] * n)
                continue
            cells = [raw[column] for raw in raws]
            if set(map(type, cells)) != {str}:
                return [self._derived_one(raw, derived) for raw in raws]
            texts[self._fields[i][0]] = cells
            values = None
            plain = self._plain[i]
            if plain is not None and self._unique[i]:
                values = plain(cells)
            if values is None:
                memo = self._cells[i]
                misses, problems = memo.misses, memo.bad
                values = list(map(memo.__getitem__, cells))
                self._unique[i] = plain is not None and (memo.misses - misses) * 2 > n
                if memo.bad != problems:
                    bad.update(j for j, value in enumerate(values) if value is _BAD)
            typed.append(values)
        names = [name for name, *_ in self._fields]
        results: list[Any] = list(map(dict, map(zip, [names] * n, zip(*typed))))
        for j in bad:
            results[j] = self._derived_one(raws[j], derived)
        if derived:
            self._derive(results, [j for j in range(n) if j not in bad], texts, derived)
        return results

    def _derive(self, results: list[Any], rows: list[int], texts: dict[str, list[str]], derived: Derived) -> None:
        """The derived values of the typed records ``results[j]`` for j in ``rows`` (in place); a record whose
        derived value raises becomes the exception. A value that reads one or two fields is remembered by the
        text of their cells (the same text is the same typed value; a field without a column is the same in
        every row), so a value whose inputs repeat (a duration, a lead time) is computed once per text."""
        kept = self._derived_memos.get(id(derived))
        if kept is None or kept[0] is not derived:
            if len(self._derived_memos) >= 8:
                self._derived_memos.clear()
            kept = self._derived_memos[id(derived)] = (derived, [_DerivedMemo() for _ in derived])
        memos = kept[1]
        reads: list[tuple[str, ...]] | None = getattr(derived, "reads", None)
        fields = {name for name, *_ in self._fields}
        for k, (name, value) in enumerate(derived):
            memo = memos[k]
            read = reads[k] if reads is not None else None
            keyed = memo.on and read is not None and 1 <= len(read) <= 2 and all(f in fields for f in read)
            failed = False
            if keyed:
                layout = tuple(f in texts for f in read)  # type: ignore[union-attr]
                if layout != memo.layout:  # another file's columns: a text may stand for another field
                    memo.values.clear()
                    memo.layout = layout
                columns = [texts[f] for f in read if f in texts]  # type: ignore[union-attr]
                if not columns:
                    keys: list[Any] = [()] * len(results)
                elif len(columns) == 1:
                    keys = columns[0]
                else:
                    keys = list(zip(*columns))
                get, known = memo.values.get, memo.values
                for j in rows:
                    record, key = results[j], keys[j]
                    found = get(key, _BAD)
                    if found is _BAD:
                        try:
                            found = value(record)
                        except Exception as exc:  # noqa: BLE001 - as read_derived raises it, for this row
                            results[j], failed = exc, True
                            continue
                        memo.missed()
                        if len(known) >= MEMO_CELLS:
                            known.clear()
                        known[key] = found
                    else:
                        memo.hits += 1
                    record[name] = found
            else:
                for j in rows:
                    record = results[j]
                    try:
                        record[name] = value(record)
                    except Exception as exc:  # noqa: BLE001 - as read_derived raises it, for this row
                        results[j], failed = exc, True
            if failed:
                rows = [j for j in rows if results[j].__class__ is dict]

    def _derived_one(self, raw: Any, derived: Derived) -> dict[str, Any] | Exception:
        try:
            return self.read_derived(raw, derived)
        except Exception as exc:  # noqa: BLE001 - returned as read_derived raised it
            return exc

    def _cell_typer(self, index: int) -> Callable[[str], Memo]:
        """One cell's text typed as ``_one`` types it (its own memo aside)."""
        name, required, convert, default = self._fields[index]
        if self._maps[index] is not None:
            return lambda text: self._one(index, text)
        return lambda text: self._convert_text(name, required, convert, default, text)

    def read(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """The typed record (raises RecordError naming every unusable column): as ``read_any`` reads it, by a
        function written out for the raw record's keys (the rows of a file share them)."""
        keys = tuple(raw)
        reader = self._readers.get(keys)
        if reader is None:
            if clashes := self._clashes(raw):
                raise RecordError(clashes)
            if len(self._readers) >= 64 or raw.__class__ is not dict:  # JSON records with keys of their own
                return self.read_any(raw)
            reader = self._readers[keys] = self._reader_for(raw)
        try:
            return reader(raw)
        except RecordError as exc:
            raise self._as_written(exc, raw) from None

    def _as_written(self, error: RecordError, raw: Mapping[str, Any]) -> RecordError:
        """``error`` with each problem's message naming the column as the file writes it, when that is not the
        field's name ("column 'Kosten (EUR)' (field 'budget'): ..."): the analyst looks for it in the export.
        The problem's column stays the field's name, for programs."""
        written = dict(zip(self.names, self._columns_for(raw)))
        problems = []
        for name, code, message in error.problems:
            column = written.get(name) if name is not None else None
            prefix = f"column '{name}': "
            if column is not None and column != name and message.startswith(prefix):
                message = f"column '{column}' (field '{name}'): {message[len(prefix):]}"
            problems.append((name, code, message))
        return RecordError(problems)

    def _reader_for(self, raw: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
        """``read_any`` written out for records with ``raw``'s keys: each field's cell read straight from its
        column and looked up in its memo, the rest (a value map, a value that is not text) by ``_one``; a
        field without a column is typed once, now. The loop over the fields, its unpacking and its tests cost
        more than the memo lookups they lead to."""
        namespace: dict[str, Any] = {"one": self._one, "RecordError": RecordError, "str": str}
        lines = ["def read(raw):", "    problems = []"]
        names = []
        for i, ((name, *_), column, mapped, memo) in enumerate(
                zip(self._fields, self._columns_for(raw), self._maps, self._memos)):
            names.append(name)
            if column is None:
                namespace[f"fixed{i}"] = self._typed_once(i)
                lines += [f"    known = fixed{i}"]
            else:
                namespace[f"memo{i}"], namespace[f"column{i}"] = memo, column
                lines += [f"    value = raw[column{i}]"]
                if mapped is None:
                    lines += [f"    known = memo{i}.get(value) if value.__class__ is str else None",
                              "    if known is None:", f"        known = one({i}, value)"]
                else:
                    lines += [f"    known = one({i}, value)"]
            lines += ["    if known[0]:", f"        r{i} = known[1]", "    else:",
                      f"        r{i} = None", f"        problems.append(({name!r}, known[1], known[2]))"]
        lines += ["    if problems:", "        raise RecordError(problems)",
                  "    return {" + ", ".join(f"{name!r}: r{i}" for i, name in enumerate(names)) + "}"]
        exec(compile("\n".join(lines), "<record reader>", "exec"), namespace)  # noqa: S102 - our own text
        made: Callable[[Mapping[str, Any]], dict[str, Any]] = namespace["read"]
        return made

    def _typed_once(self, index: int) -> Memo:
        """A field without a column, typed as read_any types a missing value: (True, value) or (False, code,
        message)."""
        return self._one(index, None)

    def _one(self, index: int, value: Any) -> Memo:
        """One field's raw value typed as ``read_any`` types it: (True, value) or (False, code, message); text
        is remembered in the field's memo."""
        name, required, convert, default = self._fields[index]
        if self._maps[index] is not None and isinstance(value, str):
            profile = self.profile
            value = profile.mapped(name if name in profile.values else _normal(name), value)
        if value.__class__ is str:
            memo = self._memos[index]
            known = memo.get(value)
            if known is None:
                known = self._convert_text(name, required, convert, default, value)
                if len(memo) >= MEMO_CELLS:
                    memo.clear()
                memo[value] = known
            return known
        if _is_blank(value):
            value = default
        if _is_blank(value):
            if required:
                return False, "missing_value", f"column '{name}': a value is required"
            return True, None
        try:
            return True, convert(value)
        except ValueProblem as exc:
            return False, getattr(exc, "code", "bad_value"), f"column '{name}': {exc}"

    def read_any(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """The typed record (raises RecordError naming every unusable column).

        Each field has one converter, chosen once from its type and the input profile; a column's cells
        repeat (dates, levels, yes/no, small integers), so each converter's results are memoised by cell
        text: (True, value) or (False, code, message). A memo is emptied when it reaches MEMO_CELLS entries,
        so memory stays bounded by the columns, not the rows (a column of unique amounts just misses)."""
        if clashes := self._clashes(raw):
            raise RecordError(clashes)
        record: dict[str, Any] = {}
        problems: list[tuple[str | None, str, str]] = []
        profile = self.profile
        for (name, required, convert, default), column, mapped, memo in zip(self._fields, self._columns_for(raw),
                                                                             self._maps, self._memos):
            value = raw[column] if column is not None else None
            if mapped is not None and isinstance(value, str):
                value = profile.mapped(name if name in profile.values else _normal(name), value)
            if value.__class__ is str:
                known = memo.get(value)
                if known is None:
                    known = self._convert_text(name, required, convert, default, value)
                    if len(memo) >= MEMO_CELLS:
                        memo.clear()
                    memo[value] = known
                if known[0]:
                    record[name] = known[1]
                else:
                    record[name] = None
                    problems.append((name, known[1], known[2]))
                continue
            if _is_blank(value):
                value = default
            if _is_blank(value):
                record[name] = None
                if required:
                    problems.append((name, "missing_value", f"column '{name}': a value is required"))
                continue
            try:
                record[name] = convert(value)
            except ValueProblem as exc:
                record[name] = None
                code = getattr(exc, "code", "bad_value")
                problems.append((name, code, f"column '{name}': {exc}"))
        if problems:
            raise self._as_written(RecordError(problems), raw)
        return record

    @staticmethod
    def _convert_text(name: str, required: bool, convert: Callable[[Any], Any], default: Any, value: str) -> Memo:
        """One cell's text typed, as a memo entry: (True, value) or (False, code, message)."""
        if not value.strip():
            value = default
            if _is_blank(value):
                if required:
                    return False, "missing_value", f"column '{name}': a value is required"
                return True, None
        try:
            return True, convert(value)
        except ValueProblem as exc:
            return False, getattr(exc, "code", "bad_value"), f"column '{name}': {exc}"


def _listed(kind: str, names: list[str], shown: int = 5) -> str:
    """"columns 'a', 'b' and 3 more" for a warning: a few names, then how many more."""
    quoted = ", ".join(f"'{n}'" for n in names[:shown])
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return f"{kind}{'s' if len(names) > 1 else ''} {quoted}{more}"
