"""Request limits: depth, aliases, tokens (strawberry's extensions), page size caps and a cost limit.

The cost of an operation is estimated before it runs, from the document and the variables: every field
costs 1, and a field with a `first` argument costs `first` times the cost of its selection, so that
`networks(first: 1000) { edges(first: 1000) { ... } }` is refused up front (the Open Targets / gnomAD rule).
"""

from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import Any

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_operation_ast,
)
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)

from server.config import Limits
from server.errors import UserError

PAGE_ARGUMENT = "first"


def page_size(first: int | None, limits: Limits, *, name: str = "first") -> int:
    """The page size a resolver uses: the default when `first` is left out, an error past the cap."""
    if first is None:
        return limits.default_page_size
    if first < 1 or first > limits.max_page_size:
        msg = f"`{name}` must lie between 1 and {limits.max_page_size}, got {first}"
        raise UserError(msg)
    return first


class _CostWalker:
    """Walks one operation's selections with the schema beside it to price every field."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        limits: Limits,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.limits = limits

    def selection_cost(self, selection_set: SelectionSetNode | None, parent: Any) -> int:
        if selection_set is None or not isinstance(parent, GraphQLObjectType):
            return 0
        total = 0
        for field, field_parent in self._fields(selection_set, parent):
            total += self.field_cost(field, field_parent)
        return total

    def _fields(self, selection_set: SelectionSetNode, parent: Any) -> Iterator[tuple[FieldNode, Any]]:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                yield selection, parent
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                yield from self._fields(selection.selection_set, inner)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:
                    inner = self.schema.get_type(fragment.type_condition.name.value)
                    yield from self._fields(fragment.selection_set, inner)

    def field_cost(self, field: FieldNode, parent: Any) -> int:
        name = field.name.value
        if name.startswith("__") or not isinstance(parent, GraphQLObjectType) or name not in parent.fields:
            return 0  # introspection is bounded by the depth limit; unknown fields fail validation
        definition = parent.fields[name]
        child = self.selection_cost(field.selection_set, get_named_type(definition.type))
        if PAGE_ARGUMENT not in definition.args:
            return 1 + child
        first = page_size(self._argument(field, PAGE_ARGUMENT), self.limits)
        return 1 + max(first, 1) * max(child, 1)

    def _argument(self, field: FieldNode, name: str) -> int | None:
        for argument in field.arguments or ():
            if argument.name.value != name:
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                return int(value.value)
            if isinstance(value, VariableNode):
                raw = self.variables.get(value.name.value)
                # a non-integer variable is left to GraphQL's own coercion error
                return raw if isinstance(raw, int) and not isinstance(raw, bool) else None
        return None


def operation_cost(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
    limits: Limits,
) -> int:
    """Estimated cost of one operation (see the module docstring); raises `UserError` past a page cap."""
    root = schema.get_root_type(operation.operation)
    return _CostWalker(schema, fragments, variables, limits).selection_cost(operation.selection_set, root)


class CostLimiter(SchemaExtension):
    """Refuses, before execution, an operation whose estimated cost exceeds `Limits.max_cost`."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        operation = get_operation_ast(document, context.operation_name) if document else None
        if operation is not None:
            fragments = {
                d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
            }
            schema = context.schema._schema
            try:
                cost = operation_cost(schema, operation, fragments, context.variables or {}, self.limits)
                message = None
                if cost > self.limits.max_cost:
                    message = (
                        f"Query cost {cost} exceeds the limit of {self.limits.max_cost}; the cost of a "
                        "paginated field is `first` x the cost of its selection: ask for smaller pages"
                    )
            except UserError as error:
                message = str(error)
            if message is not None:
                context.result = GraphQLExecutionResult(data=None, errors=[GraphQLError(message)])
        yield


def limit_extensions(limits: Limits) -> list[Callable[[], SchemaExtension]]:
    """Factories of the strawberry extensions enforcing `limits` (one instance per request).

    The depth and alias rules are built once so that their classes stay the same from request to request:
    `ValidationCache` keys on the rules, and a fresh class per request would defeat it.
    """
    rules = [
        *QueryDepthLimiter(max_depth=limits.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=limits.max_aliases).validation_rules,
    ]
    return [
        partial(MaxTokensLimiter, max_token_count=limits.max_tokens),
        partial(AddValidationRules, rules),
        partial(CostLimiter, limits),
    ]


def cache_extensions(size: int = 256) -> list[Callable[[], SchemaExtension]]:
    """Parsed and validated documents, kept per query text (LRU): analysis scripts repeat their queries."""
    return [partial(ParserCache, maxsize=size), partial(ValidationCache, maxsize=size)]
