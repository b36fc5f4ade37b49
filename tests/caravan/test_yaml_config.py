import pytest

from caravan.yaml_config import load_yaml


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1e-6", 1e-6),
        ("5.0e-7", 5e-7),
        ("-2E3", -2000.0),
        ("0.03", 0.03),
        ("3", 3),
        (".5", 0.5),
        ("no", "no"),
        ("on", "on"),
        ("yes", "yes"),
        ("true", True),
        ("False", False),
        ("[sigmoid_norm]", ["sigmoid_norm"]),
        ("null", None),
        ("1_000", 1000),
    ],
)
def test_yaml_12_scalars(text, value):
    assert load_yaml(text) == value


def test_mapping():
    assert load_yaml("save_strategy: no\nlr: 1e-6\n") == {"save_strategy": "no", "lr": 1e-6}
