"""networkGroups: every value of a label with the other labels' counts, computed by the store, paged."""

from collections import Counter

GROUPS = """
query ($by: GroupBy!, $search: String, $filter: NetworkFilterInput, $first: Int, $after: String) {
  networkGroups(groupBy: $by, search: $search, filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes {
      term { label termId } networkCount
      facets { tissue { term { label } count } disease { term { label } count } }
    }
  }
}
"""
NETWORKS = "{ networks(first: 100) { nodes { cellType { label } tissue { label } disease { label } } } }"


def all_groups(gql, **variables):
    nodes, after = [], None
    while True:
        page = gql.data(GROUPS, {"by": "CELL_TYPE", **variables, "after": after})["networkGroups"]
        nodes += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes, page["totalCount"]
        after = page["pageInfo"]["endCursor"]


def test_groups_count_what_the_network_list_holds(gql):
    networks = gql.data(NETWORKS)["networks"]["nodes"]
    expected = Counter(n["cellType"]["label"] for n in networks)
    groups, total = all_groups(gql, first=1)
    assert total == len(expected) == len(groups)
    assert {g["term"]["label"]: g["networkCount"] for g in groups} == expected
    counts = [g["networkCount"] for g in groups]
    assert counts == sorted(counts, reverse=True), "most networks first"
    for group in groups:
        mine = [n for n in networks if n["cellType"]["label"] == group["term"]["label"]]
        for facet in ("tissue", "disease"):
            got = {f["term"]["label"]: f["count"] for f in group["facets"][facet]}
            assert got == Counter(n[facet]["label"] for n in mine), (group["term"], facet)


def test_search_and_filter_narrow_the_groups_on_the_server(gql):
    groups, total = all_groups(gql, search="t ce")
    assert total == 1 and [g["term"]["label"] for g in groups] == ["T cell"]
    by_term, _ = all_groups(gql, search="CL:0000236")
    assert [g["term"]["label"] for g in by_term] == ["B cell"]
    covid, _ = all_groups(gql, filter={"diseases": ["COVID-19"]})
    assert [(g["term"]["label"], g["networkCount"]) for g in covid] == [("B cell", 1)]
    tissues = gql.data(GROUPS, {"by": "TISSUE"})["networkGroups"]["nodes"]
    assert {g["term"]["label"]: g["networkCount"] for g in tissues} == {"lung": 2, "liver": 1}
    assert all(g["facets"]["tissue"] == [] for g in tissues), "the grouping label lists nothing"
    nothing = gql.data(GROUPS, {"by": "CELL_TYPE", "search": "neuron"})["networkGroups"]
    assert nothing == {"totalCount": 0, "pageInfo": {"hasNextPage": False, "endCursor": None}, "nodes": []}
    errors = gql(GROUPS, {"by": "CELL_TYPE", "after": "x"})["errors"]
    assert "invalid cursor" in errors[0]["message"]
