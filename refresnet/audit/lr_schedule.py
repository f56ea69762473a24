"""A CIFAR training schedule against He et al. 2015, section 4.2.

The paper (He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition",
arXiv:1512.03385, section 4.2): SGD with momentum 0.9 and weight decay 0.0001, mini-batch
128, learning rate 0.1 divided by 10 at 32k and 48k iterations, training stopped at 64k
iterations, "which is determined on a 45k/5k train/val split"; for ResNet110 the rate
0.01 "to warm up the training until the training error is below 80% (about 400
iterations), and then go back to 0.1". Table 6 gives what that recipe reached (test error,
%): ResNet20 8.75, ResNet32 7.51, ResNet44 7.17, ResNet56 6.97, ResNet110 6.43 (best of 5
runs; mean 6.61 +- 0.16), ResNet1202 7.93.

Iterations per epoch are those of torch's default DataLoader (drop_last=False):
ceil(train_size / batch_size) (torch 2.14.1 torch/utils/data/sampler.py:354
``BatchSampler.__len__``), 352 for 45,000 / 128 (351.6 exactly). A milestone given in
epochs is m x that many iterations; one within one epoch of the paper's is the paper's.

``optimizer_convention`` is reported, not judged (the paper does not say which it used):
torch's SGD keeps v = mu v + g and steps lr v, where Sutskever et al. and other frameworks
keep v = mu v + lr g (torch 2.14.1 torch/optim/sgd.py:217-238); the two agree at a
constant rate and differ for a few dozen iterations after each drop, when the torch form
applies the new rate to the whole velocity at once.
"""

import math
from dataclasses import dataclass, field

PAPER = {
    "lr": 0.1, "gamma": 0.1, "milestones": (32000, 48000), "iterations": 64000, "batch_size": 128,
    "train_size": 45000, "momentum": 0.9, "weight_decay": 1e-4, "warmup_110": (0.01, 400),
}
TABLE6 = {20: 8.75, 32: 7.51, 44: 7.17, 56: 6.97, 110: 6.43, 1202: 7.93}
CONVENTIONS = {
    "torch": "v = mu v + g; p -= lr v (torch.optim.SGD)",
    "sutskever": "v = mu v + lr g; p -= v (Sutskever et al. 2013, Caffe, Keras's SGD)",
}
CITATION = "He et al. 2015 (arXiv:1512.03385) section 4.2"


@dataclass
class ScheduleReport:
    iterations_per_epoch: int
    iterations_per_epoch_exact: float
    milestones_iterations: object
    total_iterations: object
    settings: dict
    convention: str
    table6: dict
    depth: object = None
    departures: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    @property
    def ok(self):
        return not self.departures

    def to_dict(self):
        d = dict(self.__dict__)
        d["audit"] = "schedule"
        d["ok"] = self.ok
        d["paper"] = {k: list(v) if isinstance(v, tuple) else v for k, v in PAPER.items()}
        d["table6"] = {str(k): v for k, v in self.table6.items()}
        return d

    def __str__(self):
        s = self.settings
        lines = [f"{s['train_size']} images / batch {s['batch_size']} = {self.iterations_per_epoch_exact:.1f} "
                 f"({self.iterations_per_epoch} with a default DataLoader) iterations per epoch"]
        if self.milestones_iterations is not None:
            lines.append("lr drops (x" + f"{s['gamma']:g}) at iterations "
                         + ", ".join(f"{m:,}" for m in self.milestones_iterations)
                         + "; the paper: 32,000 and 48,000 (x0.1)")
        if self.total_iterations is not None:
            lines.append(f"stops at iteration {self.total_iterations:,}; the paper: 64,000")
        lines.append(f"SGD convention: {self.convention}: {CONVENTIONS[self.convention]}")
        if self.depth in TABLE6:
            lines.append(f"the paper's recipe reached {TABLE6[self.depth]}% test error with ResNet{self.depth} "
                         f"(Table 6)")
        else:
            lines.append("the paper's recipe reached (Table 6, test error %): "
                         + ", ".join(f"ResNet{k} {v}" for k, v in TABLE6.items()))
        for note in self.notes:
            lines.append(f"note: {note}")
        if self.ok:
            lines.append(f"verdict: matches {CITATION}")
        for d in self.departures:
            lines.append(f"DEPARTS [{d['id']}]: {d['message']}")
        return "\n".join(lines)


def _num(name, value, positive=True, integer=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number; received {value!r}")
    if integer and int(value) != value:
        raise ValueError(f"{name} must be a whole number; received {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be positive; received {value!r}")
    return int(value) if integer else float(value)


def schedule(milestones=None, epochs=None, gamma=0.1, lr=0.1, batch_size=128, train_size=45000, momentum=0.9,
             weight_decay=1e-4, optimizer_convention="torch", depth=None, warmup=None):
    """Compare a CIFAR training schedule with He et al. 2015 section 4.2.

    Args:
        milestones: the epochs at which the rate is multiplied by ``gamma`` (a
            MultiStepLR stepped once an epoch), or None when not stated (not checked).
        epochs: the training length in epochs, or None (not checked).
        gamma, lr, batch_size, train_size, momentum, weight_decay: as in the training code.
        optimizer_convention: "torch" or "sutskever" (reported, see the module docstring).
        depth: the network's depth (20, 32, 44, 56, 110, 1202), to cite its Table 6 error
            and check the ResNet110 warm-up.
        warmup: None, or (lr, iterations) of a warm-up before ``lr``.

    Returns:
        A ``ScheduleReport``; its ``departures`` ({"id", "message", "size"}) name each
        difference with its size (ids ``schedule.lr``, ``schedule.gamma``,
        ``schedule.milestones``, ``schedule.length``, ``schedule.batch_size``,
        ``schedule.train_size``, ``schedule.momentum``, ``schedule.weight_decay``,
        ``schedule.warmup``).
    """
    lr = _num("lr", lr)
    gamma = _num("gamma", gamma)
    batch_size = _num("batch_size", batch_size, integer=True)
    train_size = _num("train_size", train_size, integer=True)
    momentum = _num("momentum", momentum, positive=False)
    weight_decay = _num("weight_decay", weight_decay, positive=False)
    if optimizer_convention not in CONVENTIONS:
        raise ValueError(f"unknown optimizer_convention {optimizer_convention!r}; expected one of "
                         + ", ".join(CONVENTIONS))
    if depth is not None:
        depth = _num("depth", depth, integer=True)
    if milestones is not None:
        milestones = [_num("milestone", m, integer=False) for m in milestones]
        if sorted(milestones) != milestones:
            raise ValueError(f"milestones must be increasing; received {milestones}")
    if epochs is not None:
        epochs = _num("epochs", epochs)
    if warmup is not None:
        if len(warmup) != 2:
            raise ValueError(f"warmup must be (lr, iterations); received {warmup!r}")
        warmup = (_num("warmup lr", warmup[0]), _num("warmup iterations", warmup[1], integer=True))

    ipe_exact = train_size / batch_size
    ipe = -(-train_size // batch_size)
    ms_it = None if milestones is None else [round(m * ipe) for m in milestones]
    total = None if epochs is None else round(epochs * ipe)
    report = ScheduleReport(ipe, ipe_exact, ms_it, total, {
        "milestones": milestones, "epochs": epochs, "gamma": gamma, "lr": lr, "batch_size": batch_size,
        "train_size": train_size, "momentum": momentum, "weight_decay": weight_decay, "warmup": warmup},
        optimizer_convention, dict(TABLE6), depth)
    dep = report.departures

    def depart(id_, message, size):
        dep.append({"id": id_, "message": message, "size": size})

    def close(a, b):
        return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1e-12)

    if not close(lr, PAPER["lr"]):
        depart("schedule.lr", f"starts at lr {lr:g}, the paper at 0.1 ({lr / 0.1:.3g}x)", lr / 0.1)
    if not close(gamma, PAPER["gamma"]):
        depart("schedule.gamma", f"multiplies the rate by {gamma:g} at each drop, the paper by 0.1", gamma)
    if batch_size != PAPER["batch_size"]:
        depart("schedule.batch_size", f"batch {batch_size}, the paper 128 ({batch_size / 128:.3g}x: each iteration "
               f"sees that many more images, and the same lr is a different step per image)", batch_size / 128)
    if train_size != PAPER["train_size"]:
        depart("schedule.train_size", f"trains on {train_size:,} images, the paper's schedule was fixed on a 45k/5k "
               f"train/val split ({train_size - 45000:+,} images; {ipe} instead of 352 iterations per epoch)",
               train_size - 45000)
    if not close(momentum, PAPER["momentum"]):
        depart("schedule.momentum", f"momentum {momentum:g}, the paper 0.9", momentum - 0.9)
    if not close(weight_decay, PAPER["weight_decay"]):
        depart("schedule.weight_decay", f"weight decay {weight_decay:g}, the paper 0.0001 "
               f"({weight_decay / 1e-4:.3g}x)", weight_decay / 1e-4)
    if ms_it is not None:
        paper = PAPER["milestones"]
        if len(ms_it) != len(paper):
            depart("schedule.milestones", f"{len(ms_it)} drops (at epochs {', '.join(f'{m:g}' for m in milestones)} = "
                   f"iterations {', '.join(f'{m:,}' for m in ms_it)}), the paper 2 (at 32,000 and 48,000 = epochs "
                   f"{32000 / ipe:.1f} and {48000 / ipe:.1f})", len(ms_it) - 2)
        else:
            for m_ep, m_it, p_it in zip(milestones, ms_it, paper):
                if abs(m_it - p_it) > ipe:
                    depart("schedule.milestones", f"drops at epoch {m_ep:g} = iteration {m_it:,}, the paper at "
                           f"{p_it:,} (epoch {p_it / ipe:.1f}): {m_it - p_it:+,} iterations, "
                           f"{(m_it - p_it) / ipe:+.1f} epochs", m_it - p_it)
    if total is not None and abs(total - PAPER["iterations"]) > ipe:
        depart("schedule.length", f"trains {epochs:g} epochs = {total:,} iterations, the paper 64,000 "
               f"(epoch {64000 / ipe:.1f}): {total - 64000:+,} iterations ({total / 64000:.2f}x)", total - 64000)
    if depth == 110 and warmup is None:
        depart("schedule.warmup", "no warm-up: for ResNet110 the paper trains at lr 0.01 until the training error "
               "is below 80% (about 400 iterations), then returns to 0.1", None)
    elif warmup is not None and depth == 110:
        w_lr, w_it = warmup
        if not close(w_lr, 0.01) or abs(w_it - 400) > ipe:
            depart("schedule.warmup", f"warms up at lr {w_lr:g} for {w_it} iterations, the paper at 0.01 for about "
                   "400", w_it - 400)
    elif warmup is not None:
        depart("schedule.warmup", f"warms up at lr {warmup[0]:g} for {warmup[1]} iterations; the paper warms up "
               "only ResNet110", warmup[1])
    if milestones is None:
        report.notes.append("milestones not given: not checked")
    if epochs is None:
        report.notes.append("length not given: not checked")
    if optimizer_convention != "torch":
        report.notes.append("the paper does not say which SGD form it used; the two differ only just after a drop")
    return report
