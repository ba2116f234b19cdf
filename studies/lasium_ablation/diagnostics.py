"""Transfer diagnostics of generated tasks: cheap numbers that say whether meta-training on them may transfer.

Computed on a few dozen generated tasks and compared with the same numbers on real tasks:

- `pixel_stats`: mean intensity, share of ink pixels (> 0.5) and of grey pixels (in (0.1, 0.9)); a GAN's images
  are greyer and blurrier than binary Omniglot strokes.
- `ssml.lasium.class_distances`: within-class vs between-class pixel distances and their ratio.
- `embedding_diagnostics`: with a fixed *supervised* embedding (a ProtoNet trained on real training classes), the
  nearest-prototype accuracy on the generated tasks and the within/between ratio of embedding distances. A task
  this embedding solves at 100% is as easy as a real task is for a strong learner; one where it is near chance has
  classes that do not look like different characters.

`task_diagnostics` gathers them, flat, for a record of the ablation (run.py). Tested by tests/test_studies.py.
"""
from __future__ import annotations

import torch

from ssml.core import TaskBatch
from ssml.lasium import class_distances

__all__ = ['pixel_stats', 'embedding_diagnostics', 'task_diagnostics']


def pixel_stats(x: torch.Tensor  # images (..., C, H, W) in [0, 1]
               ) -> dict:  # 'mean', 'ink' (share > 0.5), 'grey' (share in (0.1, 0.9))
    "Mean intensity, ink share and grey share of a set of images."
    x = x.detach().float()
    return dict(mean=x.mean().item(), ink=(x > 0.5).float().mean().item(), grey=((x > 0.1) & (x < 0.9)).float().mean().item())


@torch.no_grad()
def embedding_diagnostics(protonet,  # a trained `ssml.maml.ProtoNet` (fixed supervised embedding)
                          tb: TaskBatch  # tasks to measure
                         ) -> dict:  # 'acc' (nearest-prototype query accuracy), 'within', 'between', 'ratio' (embedding distances)
    "Accuracy of a fixed embedding on `tb` and its within- vs between-class distances."
    was = protonet.training; protonet.eval()
    try:
        acc = protonet.query_accuracy(tb).mean().item()
        s, q = protonet.embed(tb)
    finally: protonet.train(was)
    z = torch.cat([s, q], 1)
    y = torch.cat([tb.support_y, tb.query_y], 1)
    D = torch.cdist(z, z)
    same = y[:, :, None] == y[:, None, :]
    off = ~torch.eye(z.shape[1], dtype=torch.bool)
    w, b = D[same & off].mean().item(), D[~same].mean().item()
    return dict(acc=acc, within=w, between=b, ratio=w / b)


def task_diagnostics(tb: TaskBatch,  # tasks to measure (e.g. 50 generated 5-way 1-shot 15-query tasks)
                     protonet=None  # fixed supervised ProtoNet for the embedding numbers; None: pixel numbers only
                    ) -> dict:  # flat dict of floats, keys prefixed 'pix_' and 'emb_'
    "All diagnostics of a batch of tasks, flat, for a run record."
    x = torch.cat([tb.support_x, tb.query_x], 1)
    out = {f'pix_{k}': v for k, v in pixel_stats(x).items()}
    out.update({f'pix_{k}': v for k, v in class_distances(tb).items()})
    if protonet is not None: out.update({f'emb_{k}': v for k, v in embedding_diagnostics(protonet, tb).items()})
    return out
