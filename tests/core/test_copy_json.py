"""dialog_gym.text.copy_json: a deep copy of JSON-shaped data into plain dicts and lists."""

from collections import OrderedDict, defaultdict

from dialog_gym.text import copy_json


def test_copy_is_deep_and_equal_with_the_same_order():
    src = {"b": 1, "a": {"c": [1, {"d": 2.5}], "e": None}, "f": "x", "g": True}
    out = copy_json(src)
    assert out == src and list(out) == ["b", "a", "f", "g"]
    assert out["a"] is not src["a"] and out["a"]["c"] is not src["a"]["c"]
    out["a"]["c"][1]["d"] = 0
    assert src["a"]["c"][1]["d"] == 2.5


def test_dict_and_list_subclasses_become_plain_containers():
    class Tags(list):
        pass

    src = OrderedDict(z=defaultdict(list, x=[3]), y=Tags([{"k": 1}]))
    out = copy_json(src)
    assert type(out) is dict and type(out["z"]) is dict and type(out["y"]) is list
    assert out == {"z": {"x": [3]}, "y": [{"k": 1}]} and list(out) == ["z", "y"]


def test_other_objects_are_shared():
    marker = object()
    out = copy_json({"m": marker, "t": (1, 2)})
    assert out["m"] is marker
