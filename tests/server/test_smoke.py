def test_meta(gql):
    data = gql.data("{ meta { release schemaVersion counts { genes networks edges geneSets } } }")
    print(data)
