"""Request limits on the document: tokens, depth, aliases, fragment spreads, and the estimated cost.

Every check here costs time linear in the document: each fragment is walked once and its result memoised
(depth and cost of a fragment do not depend on where it is spread), so a query spreading fragments inside
fragments costs what its text costs, not what its expansion would. The app runs `prepare` and `cost` in a
worker thread, off the event loop (server/app.py), and the token cap bounds the work of graphql-core's
own validation there; `PreparedDocuments` keeps what `prepare` made, so a document sent again is priced
without being parsed or validated again.

The cost of an operation is estimated before it runs, from the document and the variables, charging what
the resolvers do: every field costs 1; a field with a `first` argument costs `first` x the cost of its
selection (the Open Targets / gnomAD rule); a field taking a list of genes costs per gene (`nodeStatistics`
reads one row per gene and network, `genesByName` answers one entry per name); enrichments and comparisons
add the work of their statistics (`FIXED_COSTS`). A field under a page is charged once per item of the page,
so `networks(first: 1000) { nodes { nodeStatistics(genes: [1000 names]) } }` is refused up front.

Introspection is allowed (the schema is public and GraphiQL needs it), within the token, alias and spread
limits and a depth of `Limits.max_introspection_depth`; it costs nothing (it reads no data).
"""

import threading
from collections import Counter, OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    parse,
    specified_rules,
    validate,
)

from server.config import Limits
from server.errors import UserError

PAGE_ARGUMENT = "first"
MAX_SAME_FIELD = 20  # fields answering to one name in one selection set (validation compares them pairwise)

# Extra cost of fields whose resolver does work beyond reading its rows (hypergeometric tests over every
# gene set, a join of two whole networks, a scan of every regulator of the matching networks).
FIXED_COSTS = {
    ("Query", "enrichment"): 2_000,
    ("Query", "enrichedRegulators"): 10_000,
    ("Query", "compareNetworks"): 3_000,
    ("Query", "regulators"): 1_000,  # a gene list's edges across networks are read and sorted before a page
    ("Query", "targets"): 1_000,
    ("Network", "nodeStatistics"): 10,
    ("Network", "knownEdges"): 50,  # a join of the network's edges with every prior
    ("NetworkConnection", "unmatched"): 20,  # one existence query per filter value
}
# List arguments whose resolver does one unit of work (and returns one item) per element.
PER_ITEM_ARGUMENTS = {("Network", "nodeStatistics"): "genes", ("Query", "genesByName"): "names"}
# Fields returning up to `first` items per group of networks (tissues, diseases...): charged for this many.
GROUPED_FIELDS = {("Gene", "regulatorsByGroup"): 20, ("Gene", "targetsByGroup"): 20}


def page_size(first: int | None, limits: Limits, *, name: str = "first") -> int:
    """The page size a resolver uses: the default when `first` is left out, an error past the cap."""
    if first is None:
        return limits.default_page_size
    if first < 1 or first > limits.max_page_size:
        msg = f"`{name}` must lie between 1 and {limits.max_page_size}, got {first}"
        raise UserError(msg)
    return first


def has_lone_surrogate(text: str) -> bool:
    """True when `text` holds half of a UTF-16 surrogate pair, which no database or encoder accepts."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_variables(variables: Any) -> None:
    """Refuse a lone surrogate anywhere in the variables (walked iteratively: nesting cannot overflow).

    In the query text graphql-core's lexer refuses them already ("Invalid character within String").
    """
    stack = [variables]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if has_lone_surrogate(value):
                msg = "a string in the variables holds a lone UTF-16 surrogate (invalid Unicode)"
                raise UserError(msg)
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


@dataclass(frozen=True)
class Prepared:
    """A parsed, validated document and the operation to run (what `prepare` caches per query text)."""

    document: DocumentNode
    operation: OperationDefinitionNode
    fragments: Mapping[str, FragmentDefinitionNode]


@dataclass
class _Shape:
    """Depth of a selection set: `data` for fields reading data, `any` including introspection."""

    data: int = 0
    any: int = 0


@dataclass
class _StaticWalk:
    """One pass over a document: depth per fragment (memoised), aliases, spreads, repeated names."""

    fragments: Mapping[str, FragmentDefinitionNode]
    memo: dict[str, _Shape] = field(default_factory=dict)
    active: set[str] = field(default_factory=set)

    def shape(self, selection_set: SelectionSetNode | None) -> _Shape:
        result = _Shape()
        if selection_set is None:
            return result
        names: Counter[str] = Counter()
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                names[(selection.alias or selection.name).value] += 1
                if selection.selection_set is None:
                    continue
                child = self.shape(selection.selection_set)
                introspection = selection.name.value.startswith("__")
                result.any = max(result.any, 1 + child.any)
                if not introspection:
                    result.data = max(result.data, 1 + child.data)
            else:
                inner = self._inner(selection)
                result.any, result.data = max(result.any, inner.any), max(result.data, inner.data)
        name, count = names.most_common(1)[0] if names else ("", 0)
        if count > MAX_SAME_FIELD:
            msg = f"the field `{name}` appears {count} times in one selection (at most {MAX_SAME_FIELD})"
            raise GraphQLError(msg)
        return result

    def _inner(self, selection: Any) -> _Shape:
        if isinstance(selection, InlineFragmentNode):
            return self.shape(selection.selection_set)
        name = selection.name.value
        if name in self.memo:
            return self.memo[name]
        fragment = self.fragments.get(name)
        if fragment is None:
            msg = f"Unknown fragment '{name}': define it with `fragment {name} on <Type> {{ ... }}`"
            raise GraphQLError(msg)
        if name in self.active:
            msg = f"fragment '{name}' spreads itself (directly or through other fragments)"
            raise GraphQLError(msg)
        self.active.add(name)
        self.memo[name] = self.shape(fragment.selection_set)
        self.active.discard(name)
        return self.memo[name]


def _choose_operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name:
        for operation in operations:
            if operation.name is not None and operation.name.value == name:
                return operation
        msg = f"the document has no operation named {name!r}"
        raise GraphQLError(msg)
    if len(operations) != 1:
        msg = (
            f"the document holds {len(operations)} operations: name the one to run with operationName"
            if operations
            else "the document holds no operation"
        )
        raise GraphQLError(msg)
    return operations[0]


def prepare(schema: GraphQLSchema, limits: Limits, query: str, operation_name: str | None) -> Prepared:
    """Parse (token-capped), check the static limits, validate; `GraphQLError` with a clear message."""
    try:
        return _prepare(schema, limits, query, operation_name)
    except RecursionError:
        msg = "the document is nested too deeply to analyse"
        raise GraphQLError(msg) from None


class PreparedDocuments:
    """`prepare`'s documents by (query text, operation name), the `size` most recently used (thread-safe).

    Analysis scripts send the same document with new variables: a document seen before is neither parsed nor
    validated again, and `get` tells the app it may price the request on the event loop. Refusals are not
    kept: a refused document is analysed again, off the loop, each time it is sent.
    """

    def __init__(self, schema: GraphQLSchema, limits: Limits, size: int = 256) -> None:
        self.schema = schema
        self.limits = limits
        self.size = size
        self._documents: OrderedDict[tuple[str, str | None], Prepared] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, query: str, operation_name: str | None) -> Prepared | None:
        """The prepared document if it was prepared before, else None (nothing is parsed)."""
        key = (query, operation_name)
        with self._lock:
            found = self._documents.get(key)
            if found is not None:
                self._documents.move_to_end(key)
            return found

    def prepare(self, query: str, operation_name: str | None) -> Prepared:
        """`get`, or `prepare` the document and keep it; `GraphQLError` as `prepare` raises it."""
        found = self.get(query, operation_name)
        if found is not None:
            return found
        prepared = prepare(self.schema, self.limits, query, operation_name)
        with self._lock:
            self._documents[(query, operation_name)] = prepared
            while len(self._documents) > self.size:
                self._documents.popitem(last=False)
        return prepared


def _prepare(schema: GraphQLSchema, limits: Limits, query: str, operation_name: str | None) -> Prepared:
    document = parse(query, max_tokens=limits.max_tokens)
    definitions = document.definitions
    fragments = {d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)}
    spreads = aliases = 0
    for node in _all_selections(document):
        spreads += isinstance(node, FragmentSpreadNode)
        aliases += isinstance(node, FieldNode) and node.alias is not None
    if spreads > limits.max_fragment_spreads:
        msg = f"{spreads} fragment spreads found. Allowed: {limits.max_fragment_spreads}"
        raise GraphQLError(msg)
    if aliases > limits.max_aliases:
        msg = f"{aliases} aliases found. Allowed: {limits.max_aliases}"
        raise GraphQLError(msg)
    operation = _choose_operation(document, operation_name)
    walk = _StaticWalk(fragments)
    for fragment in fragments.values():  # every fragment once, even one no operation uses
        walk._inner(FragmentSpreadNode(name=fragment.name))
    shape = walk.shape(operation.selection_set)
    if shape.data > limits.max_depth:
        msg = f"'{_name(operation)}' exceeds maximum operation depth of {limits.max_depth}"
        raise GraphQLError(msg)
    if shape.any > limits.max_introspection_depth:
        msg = f"introspection deeper than {limits.max_introspection_depth} levels"
        raise GraphQLError(msg)
    errors = validate(schema, document, specified_rules)
    if errors:
        raise errors[0]
    return Prepared(document=document, operation=operation, fragments=fragments)


def _name(operation: OperationDefinitionNode) -> str:
    return operation.name.value if operation.name else "anonymous"


def _all_selections(document: DocumentNode) -> list[Any]:
    """Every selection node of every definition, iteratively (no recursion on deep documents)."""
    found: list[Any] = []
    stack = [d.selection_set for d in document.definitions if hasattr(d, "selection_set")]
    while stack:
        selection_set = stack.pop()
        if selection_set is None:
            continue
        for selection in selection_set.selections:
            found.append(selection)
            stack.append(getattr(selection, "selection_set", None))
    return found


class _CostWalker:
    """Prices one operation's selections with the schema beside it; each fragment is priced once."""

    def __init__(self, schema: GraphQLSchema, prepared: Prepared, variables: Mapping, limits: Limits):
        self.schema = schema
        self.fragments = prepared.fragments
        self.variables = variables
        self.limits = limits
        self.memo: dict[str, int] = {}

    def selection_cost(self, selection_set: SelectionSetNode | None, parent: Any) -> int:
        if selection_set is None or not isinstance(parent, GraphQLObjectType):
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field_cost(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selection_cost(selection.selection_set, inner)
            elif isinstance(selection, FragmentSpreadNode):
                total += self._fragment_cost(selection.name.value)
        return total

    def _fragment_cost(self, name: str) -> int:
        if name not in self.memo:
            fragment = self.fragments[name]
            inner = self.schema.get_type(fragment.type_condition.name.value)
            self.memo[name] = self.selection_cost(fragment.selection_set, inner)
        return self.memo[name]

    def field_cost(self, node: FieldNode, parent: GraphQLObjectType) -> int:
        name = node.name.value
        if name.startswith("__") or name not in parent.fields:
            return 0  # introspection reads no data
        key = (parent.name, name)
        definition = parent.fields[name]
        child = self.selection_cost(node.selection_set, get_named_type(definition.type))
        items, listed = 1, False
        if PAGE_ARGUMENT in definition.args:
            items, listed = page_size(self._int_argument(node, PAGE_ARGUMENT), self.limits), True
        if key in PER_ITEM_ARGUMENTS:
            items, listed = items * max(self._list_length(node, PER_ITEM_ARGUMENTS[key]), 1), True
        if key in GROUPED_FIELDS:
            items, listed = items * GROUPED_FIELDS[key], True
        return 1 + FIXED_COSTS.get(key, 0) + (items * max(child, 1) if listed else child)

    def _argument(self, node: FieldNode, name: str) -> Any:
        for argument in node.arguments or ():
            if argument.name.value == name:
                value = argument.value
                if isinstance(value, VariableNode):
                    return self.variables.get(value.name.value)
                return value
        return None

    def _int_argument(self, node: FieldNode, name: str) -> int | None:
        value = self._argument(node, name)
        if isinstance(value, IntValueNode):
            return int(value.value)
        # a non-integer variable is left to GraphQL's own coercion error
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def _list_length(self, node: FieldNode, name: str) -> int:
        value = self._argument(node, name)
        if isinstance(value, ListValueNode):
            return len(value.values)
        return len(value) if isinstance(value, list) else 1


def operation_cost(
    schema: GraphQLSchema, prepared: Prepared, variables: Mapping[str, Any], limits: Limits
) -> int:
    """Estimated cost of the prepared operation (module docstring); `UserError` past a page cap."""
    root = schema.get_root_type(prepared.operation.operation)
    walker = _CostWalker(schema, prepared, variables, limits)
    return walker.selection_cost(prepared.operation.selection_set, root)


def check_cost(cost: int, limits: Limits) -> None:
    if cost > limits.max_cost:
        msg = (
            f"Query cost {cost} exceeds the limit of {limits.max_cost}; the cost of a paginated field is "
            "`first` x the cost of its selection, a gene list costs per gene: ask for smaller pages"
        )
        raise UserError(msg)
