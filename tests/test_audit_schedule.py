"""refresnet.audit.schedule against He et al. 2015 section 4.2, worked by hand."""

import pytest

from refresnet import audit


def ids(r):
    return [d["id"] for d in r.departures]


def test_the_papers_schedule_in_epochs_matches():
    # 45,000 / 128 = 351.5625 -> 352 iterations per epoch (DataLoader, drop_last=False);
    # 32k, 48k, 64k iterations = epochs 90.9, 136.4, 181.8: 91, 136, 182 are within one epoch
    r = audit.schedule(milestones=[91, 136], epochs=182, depth=56)
    assert r.iterations_per_epoch == 352 and r.iterations_per_epoch_exact == 351.5625
    assert r.milestones_iterations == [32032, 47872] and r.total_iterations == 64064
    assert r.ok, r.departures
    assert "6.97% test error with ResNet56 (Table 6)" in str(r)


def test_popular_200_epoch_schedule_departs_with_sizes():
    r = audit.schedule(milestones=[100, 150], epochs=200)
    assert ids(r) == ["schedule.milestones", "schedule.milestones", "schedule.length"]
    # 100 x 352 = 35,200: +3,200 iterations; 150 x 352 = 52,800: +4,800; 200 x 352 = 70,400: +6,400
    assert [d["size"] for d in r.departures] == [3200, 4800, 6400]


def test_three_drops_and_other_settings():
    r = audit.schedule(milestones=[30, 60, 90], epochs=100, lr=0.05, batch_size=256, train_size=50000,
                       weight_decay=5e-4, momentum=0.95, gamma=0.2)
    got = ids(r)
    for want in ("schedule.lr", "schedule.gamma", "schedule.batch_size", "schedule.train_size", "schedule.momentum",
                 "schedule.weight_decay", "schedule.milestones", "schedule.length"):
        assert want in got
    # 50,000 / 256 = 195.3 -> 196 iterations per epoch
    assert r.iterations_per_epoch == 196
    d = {x["id"]: x for x in r.departures}
    assert d["schedule.milestones"]["size"] == 1  # three drops, the paper two
    assert d["schedule.train_size"]["size"] == 5000
    assert d["schedule.weight_decay"]["size"] == pytest.approx(5.0)


def test_resnet110_warmup():
    assert ids(audit.schedule(milestones=[91, 136], epochs=182, depth=110)) == ["schedule.warmup"]
    assert audit.schedule(milestones=[91, 136], epochs=182, depth=110, warmup=(0.01, 400)).ok
    assert ids(audit.schedule(depth=110, warmup=(0.1, 400))) == ["schedule.warmup"]
    assert ids(audit.schedule(depth=56, warmup=(0.01, 400))) == ["schedule.warmup"]


def test_table6_and_unchecked_parts():
    assert audit.TABLE6 == {20: 8.75, 32: 7.51, 44: 7.17, 56: 6.97, 110: 6.43, 1202: 7.93}
    r = audit.schedule()
    assert r.ok and "milestones not given: not checked" in r.notes


@pytest.mark.parametrize("kw,match", [
    ({"lr": -1}, "lr must be positive"),
    ({"batch_size": 12.5}, "batch_size must be a whole number"),
    ({"milestones": [150, 100]}, "milestones must be increasing"),
    ({"optimizer_convention": "adam"}, "unknown optimizer_convention 'adam'; expected one of torch, sutskever"),
    ({"warmup": (0.01,)}, "warmup must be"),
])
def test_bad_arguments_name_themselves(kw, match):
    with pytest.raises(ValueError, match=match):
        audit.schedule(**kw)
