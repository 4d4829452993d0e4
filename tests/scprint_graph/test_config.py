import pytest

from scprint_graph.config import LabelClass, ModelConfig


@pytest.mark.parametrize(
    ("name", "d_model", "n_layers", "n_heads"),
    [("small", 128, 4, 2), ("medium", 256, 8, 4), ("large", 512, 16, 8)],
)
def test_presets_have_scprint_sizes(name, d_model, n_layers, n_heads):
    config = ModelConfig.preset(name, n_genes=100)
    assert (config.d_model, config.n_layers, config.n_heads) == (d_model, n_layers, n_heads)
    assert config.max_len == 2200
    assert config.preset_name == name


def test_preset_overrides_and_requires_vocabulary():
    config = ModelConfig.preset("tiny", n_genes=10, n_layers=3, normalization="log")
    assert config.n_layers == 3 and config.normalization == "log"
    with pytest.raises(ValueError, match="n_genes"):
        ModelConfig.preset("tiny")
    with pytest.raises(ValueError, match="huge"):
        ModelConfig.preset("huge", n_genes=10)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("d_model", 0),
        ("n_heads", 3),
        ("normalization", "zscore"),
        ("attention", "flash3"),
        ("dropout", 1.5),
        ("n_genes", -1),
        ("max_len", 2.5),
    ],
)
def test_invalid_values_are_named(field, value):
    with pytest.raises(ValueError, match=str(value)):
        ModelConfig(**{"n_genes": 10, "d_model": 32, "n_heads": 2, field: value})


def test_config_is_frozen():
    config = ModelConfig(n_genes=10, d_model=32, n_heads=2)
    with pytest.raises(AttributeError):
        config.d_model = 64


def test_special_tokens_and_dict_round_trip(label_classes):
    config = ModelConfig.preset("tiny", n_genes=10, classes=label_classes, classifier_hidden=(16,))
    assert config.n_special_tokens == 2 + len(label_classes)
    assert config.class_names == ("cell_type", "disease")
    again = ModelConfig.from_dict(config.to_dict())
    assert again == config
    assert again.classes[0].parent_leaves == ((0, 1),)
    with pytest.raises(ValueError, match="colour"):
        ModelConfig.from_dict({**config.to_dict(), "colour": "red"})


def test_label_class_hierarchy():
    cls = LabelClass.from_hierarchy("cell_type", ["a", "b", "c"], {"ab": ["b", "a"]})
    assert cls.labels == ("a", "b", "c", "ab")
    assert cls.parent_leaves == ((0, 1),)
    with pytest.raises(ValueError, match="'z'"):
        LabelClass.from_hierarchy("cell_type", ["a"], {"p": ["z"]})
    with pytest.raises(ValueError, match=r"\[5\]"):
        LabelClass(name="x", leaves=("a",), parents=("p",), parent_leaves=((5,),))
    with pytest.raises(ValueError, match=r"a\.b"):
        LabelClass(name="a.b", leaves=("a",))
    with pytest.raises(ValueError, match="unique"):
        ModelConfig(
            n_genes=5, d_model=32, n_heads=2, classes=(LabelClass("x", ("a",)), LabelClass("x", ("b",)))
        )
