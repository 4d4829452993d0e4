"""A network's stable key and model family in the API, and networks selected by key."""


def test_networks_show_their_key_and_can_be_selected_by_it(gql):
    nodes = gql.data("{ networks { nodes { id key modelFamily } } }")["networks"]["nodes"]
    assert len({n["key"] for n in nodes}) == len(nodes) == 3
    assert all(len(n["key"]) == 20 and n["modelFamily"] is None for n in nodes)
    picked = gql.data(
        "query($k: [String!]) { networks(filter: {keys: $k}) { nodes { id } } }", {"k": [nodes[1]["key"]]}
    )
    assert picked["networks"]["nodes"] == [{"id": nodes[1]["id"]}]


def test_wildcards_in_the_text_filter_match_nothing(gql):
    for text in ("%", "_", "%_%"):
        query = "query($t: String) { networks(filter: {text: $t}) { totalCount } }"
        assert gql.data(query, {"t": text})["networks"]["totalCount"] == 0, text
