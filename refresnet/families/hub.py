"""What the Hugging Face Hub config files mean for the labels; the architecture a
config.json describes is its family's (``config`` of refresnet/families/timm.py and
transformers.py, registry.arch_from_config).

``config.json`` decides the architecture wherever it is present (detection from
names and shapes is the fallback):
- timm's (``timm.models.save_for_hf``, timm 1.0.31 timm/models/_hub.py
  save_config_for_hf): ``architecture`` = timm's model name, ``model_args``
  (constructor overrides: ``channels``, ``stem_width``, ``num_classes``, ...),
  ``pretrained_cfg`` (its preprocessing);
- transformers' (``save_pretrained``): ``model_type`` "resnet" with ResNetConfig's
  ``depths``, ``hidden_sizes``, ``layer_type``, ``embedding_size``,
  ``downsample_in_bottleneck``, ``downsample_in_first_stage``, ``id2label``.

The files themselves are read by refresnet/io/hub.py.
"""

def config_labels(cfg):
    """The class names a config.json gives, as a tuple in index order, or None:
    transformers' ``id2label`` ({"0": name, ...}), or timm's ``label_names``
    (timm 1.0.31 _hub.py save_config_for_hf: a list or {index: name}); names
    that do not cover 0..n-1 are not used. Each name is replaced by its ``label_descriptions`` entry when there is
    one (timm's ImageNet label_names are WordNet ids, the descriptions the words)."""
    if not cfg:
        return None
    names = cfg.get("id2label")
    if names is None:
        names = cfg.get("label_names")
    if isinstance(names, list):
        names = dict(enumerate(names))
    if not isinstance(names, dict):
        return None
    try:
        items = sorted((int(k), str(v)) for k, v in names.items())
    except (TypeError, ValueError):
        return None
    if [i for i, _ in items] != list(range(len(items))):
        return None
    desc = cfg.get("label_descriptions") if "id2label" not in cfg else None
    if isinstance(desc, dict):
        return tuple(str(desc.get(v, v)) for _, v in items)
    return tuple(v for _, v in items)
