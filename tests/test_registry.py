"""The one name registry behind losses, miners and distances."""

import pytest

from embedding_net import distances, losses, miners
from embedding_net.registry import Registry, normalize_name


class _Thing:
    def __init__(self, size=1):
        self.size = size


def test_names_match_case_insensitively_with_dash_and_underscore_alike():
    reg = Registry("thing")
    reg.register("big-thing", _Thing, aliases=("huge",))
    for spelling in ("big-thing", "Big_Thing", " BIG-THING ", "huge", "HUGE", "_Thing"):
        assert reg.lookup(spelling) is _Thing, spelling
    assert reg.create("big_thing", size=3).size == 3
    assert "big_thing" in reg and "small" not in reg and 3 not in reg
    assert reg.names() == ["big-thing", "huge"]
    assert normalize_name(" A_b ") == "a-b"


def test_decorator_registration_and_unknown_names_listed():
    reg = Registry("thing")

    @reg.register("mine")
    class Mine:
        pass

    assert reg.lookup("MINE") is Mine
    assert reg.lookup("nope") is None
    with pytest.raises(
        ValueError, match=r"Unknown thing 'nope': expected one of \['mine'\], or else"
    ):
        reg.create("nope", also="or else")


@pytest.mark.parametrize("bad", ["", "  ", None, 3])
def test_bad_names_refused(bad):
    with pytest.raises(ValueError, match="non-empty string"):
        Registry("thing").register(bad, _Thing)


def test_factory_must_be_callable():
    with pytest.raises(ValueError, match="class or callable"):
        Registry("thing").register("x", 3)


def test_losses_miners_distances_share_the_rules():
    assert isinstance(losses.get("Triplet_SemiHard"), losses.TripletSemiHardLoss)
    assert isinstance(losses.get("TripletSemiHardLoss"), losses.TripletSemiHardLoss)
    assert isinstance(miners.get_miner("BATCH_HARD"), miners.BatchHardMiner)
    assert isinstance(miners.get_miner("BatchHardMiner"), miners.BatchHardMiner)
    assert isinstance(distances.get_distance("l2"), distances.EuclideanDistance)
    assert isinstance(distances.get_distance("Squared_L2"), distances.SquaredEuclideanDistance)
    for get, kind in (
        (losses.get, "loss"),
        (miners.get_miner, "miner"),
        (distances.get_distance, "distance"),
    ):
        with pytest.raises(ValueError, match=f"Unknown {kind} 'nope': expected one of"):
            get("nope")


def test_register_functions_add_names():
    class MyMiner(miners.BatchHardMiner):
        pass

    class MyDistance(distances.EuclideanDistance):
        pass

    miners.register_miner("my-test-miner", MyMiner)
    distances.register_distance("my-test-distance", MyDistance)
    try:
        assert isinstance(miners.get_miner("my_test_miner"), MyMiner)
        assert "my-test-miner" in miners.available_miners()
        assert isinstance(distances.get_distance("My-Test-Distance"), MyDistance)
    finally:
        miners.MINERS.unregister("my-test-miner")
        distances.objects.DISTANCES.unregister("my-test-distance")
    assert "my-test-miner" not in miners.MINERS
    with pytest.raises(ValueError, match="Unknown miner 'my-test-miner'"):
        miners.MINERS.unregister("my-test-miner")
