"""What a model needs to know about its data to build its networks: name, kind, shape, extras.

A :class:`DataInfo` is saved in a run's ``config.yaml`` so that a trained model can be
rebuilt (``lz.load``) without reading its dataset again. A :class:`~latentzoo.data.Dataset`
has the same attributes, so either can be passed to ``LatentModel.build``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DataInfo:
    name: str
    kind: str
    shape: tuple[int, ...]
    extras: dict = field(default_factory=dict)

    @property
    def dim(self) -> int:
        """Number of features of one example once flattened."""
        return math.prod(self.shape)

    @classmethod
    def of(cls, data) -> DataInfo:
        return cls(str(data.name), data.kind, tuple(int(s) for s in data.shape), dict(data.extras))

    def to_dict(self) -> dict:
        """Plain YAML-able values (tensors become nested lists)."""
        extras = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in self.extras.items()}
        return {"name": self.name, "kind": self.kind, "shape": list(self.shape), "extras": extras}

    @classmethod
    def from_dict(cls, d: dict) -> DataInfo:
        return cls(str(d["name"]), str(d["kind"]), tuple(int(s) for s in d["shape"]), dict(d.get("extras") or {}))
