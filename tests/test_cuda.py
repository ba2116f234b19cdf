"""What must hold on a CUDA device, checked there:

- the MAML meta-gradient of the default path (`MAML.meta_loss`, the hand-written `maml_loss_fused` for the Omniglot
  backbone) equals the per-task reference loop's (`maml_loss_loop`), first and second order, to 1e-4 relative in
  float32 and 1e-10 in float64 (TF32 switched off: PyTorch lets cuDNN convolutions use TF32 by default, which rounds
  float32 inputs to 10 mantissa bits);
- meta-training interrupted and resumed gives exactly the uninterrupted result (parameters bit for bit, the same
  history), for ProtoNets drawing from the global CUDA generator and for second-order MAML, with deterministic
  algorithms on (without them two uninterrupted runs may already differ, and the test says so);
- a tiny run end to end (`ssml.records.execute_run` with device='cuda') on the Omniglot-format fixture.

Every test is marked `cuda` (`pytest -m cuda` selects them); without a CUDA device they are skipped with the reason
(tests/conftest.py). `SSML_TEST_DEVICE=cpu` runs them on the CPU instead, which checks the tests themselves.
"""
import os
os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', ':4096:8')  # deterministic cuBLAS: must be set before CUDA starts
import contextlib, json
from pathlib import Path

import pytest
import torch

DEVICE = os.environ.get('SSML_TEST_DEVICE', 'cuda')


@contextlib.contextmanager
def full_float32():
    "Float32 convolutions and matrix products without TF32, restored afterwards."
    old = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try: yield
    finally: torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


@contextlib.contextmanager
def deterministic():
    "Deterministic algorithms (warning where an operation has none) and cuDNN without autotuning, restored afterwards."
    old = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
           torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try: yield
    finally:
        torch.use_deterministic_algorithms(old[0], warn_only=old[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = old[2], old[3]


def max_rel_err(got, ref):
    "Max over tensors of max|got - ref| / max|ref|."
    return max(((g - r).abs().max() / r.abs().max().clamp_min(1e-30)).item() for g, r in zip(got, ref))


# --- MAML meta-gradient: default path vs the per-task loop

@pytest.mark.cuda
@pytest.mark.parametrize('first_order', [False, True], ids=['second-order', 'first-order'])
@pytest.mark.parametrize('dtype,tol', [(torch.float32, 1e-4), (torch.float64, 1e-10)], ids=['float32', 'float64'])
def test_maml_meta_gradient_matches_task_loop(dtype, tol, first_order):
    from ssml.maml import MAML, maml_loss_loop, toy_tasks
    from ssml.nets import omniglot_conv4
    torch.manual_seed(0)
    net = omniglot_conv4(5).to(DEVICE, dtype)
    tb = toy_tasks(4, 5, 1, 15, seed=0, dtype=dtype).to(DEVICE)  # the study's shapes: 5-way 1-shot, 15 queries, meta-batch 4
    maml = MAML(net, inner_lr=0.4, inner_steps=5, first_order=first_order)
    assert maml.fused, 'the default path for the Omniglot backbone should be maml_loss_fused'
    params = list(net.parameters())
    with full_float32():
        loss, _ = maml.meta_loss(tb)
        grads = torch.autograd.grad(loss, params)
        ref_loss, _ = maml_loss_loop(net, dict(net.named_parameters()), tb, 0.4, 5, first_order)
        ref = torch.autograd.grad(ref_loss, params)
    assert all(g.device.type == torch.device(DEVICE).type and g.dtype == dtype for g in grads)
    assert all(r.abs().max() > 0 for r in ref), 'a reference gradient is zero: the comparison would say nothing'
    err = max_rel_err(grads, ref)
    assert err < tol, f"meta-gradient differs from the task loop's by {err:.2e} (relative), more than {tol:g} ({dtype}, {DEVICE})"
    assert abs(loss.item() - ref_loss.item()) <= tol * abs(ref_loss.item()), (loss.item(), ref_loss.item())


# --- exact resume

class ToySource:
    "A seeded toy task source with state_dict/load_state_dict; at call `fail_at` it raises KeyboardInterrupt."
    def __init__(self, seed=0, fail_at=None): self.seed, self.calls, self.fail_at = seed, 0, fail_at
    def __call__(self, n):
        from ssml.maml import toy_tasks
        self.calls += 1
        if self.calls == self.fail_at: raise KeyboardInterrupt
        return toy_tasks(n, 5, 1, 3, (1, 14, 14), seed=1000 * self.seed + self.calls)
    def state_dict(self): return {'calls': self.calls}
    def load_state_dict(self, s): self.calls = s['calls']


def jitter_protonet():
    "A ProtoNet whose meta-loss jitters the support images with the global generator of their device (CUDA's there)."
    import dataclasses
    from ssml.maml import ProtoNet
    from ssml.nets import Conv4
    class Jitter(ProtoNet):
        def meta_loss(self, tb):
            return super().meta_loss(dataclasses.replace(tb, support_x=tb.support_x + 0.1 * torch.randn_like(tb.support_x)))
    return Jitter(Conv4(1, 5, hidden=8, image_size=14))


def small_maml():
    from ssml.maml import MAML
    from ssml.nets import Conv4
    return MAML(Conv4(1, 5, hidden=8, image_size=14), inner_lr=0.4, inner_steps=2, test_inner_steps=3)


def _train(ckpt_dir, learner_fn, steps, fail_at=None):
    "Meta-train on a schedule over two sources, with validation and checkpoints; (learner, result)."
    from ssml.maml import toy_tasks
    from ssml.metatrain import meta_train, mixture_schedule
    torch.manual_seed(0)
    learner = learner_fn().to(DEVICE)
    val = [toy_tasks(10, 5, 1, 3, (1, 14, 14), seed=77)]
    res = meta_train(learner, {'a': ToySource(1, fail_at), 'b': ToySource(2)}, steps=steps,
                     schedule=mixture_schedule({'a': 0.5, 'b': 0.5}), val_tasks=val, val_every=4, ckpt_dir=ckpt_dir,
                     ckpt_every=3, log_every=1, progress=False, device=DEVICE)
    return learner, res


def _same(a, b) -> bool:
    "Bit-identical parameters and the same history (steps, sources, losses, accuracies, validation)."
    key = lambda r: [(h['step'], h['source'], h['loss'], h['acc'], h['val_acc']) for h in r[1]['history']]
    return all(torch.equal(p, q) for p, q in zip(a[0].state_dict().values(), b[0].state_dict().values())) and key(a) == key(b)


@pytest.mark.cuda
@pytest.mark.parametrize('learner_fn,steps', [(jitter_protonet, 10), (small_maml, 8)], ids=['protonet-cuda-rng', 'maml-second-order'])
def test_meta_train_resume_is_exact(tmp_path, learner_fn, steps):
    from ssml.core import load_checkpoint
    with deterministic():
        ref = _train(tmp_path/'ref', learner_fn, steps)
        assert next(ref[0].parameters()).device.type == torch.device(DEVICE).type
        again = _train(tmp_path/'again', learner_fn, steps)
        assert _same(ref, again), (f"two uninterrupted runs differ on {DEVICE} even with deterministic algorithms: "
                                   "this is nondeterminism of the device's kernels, not a resume failure")
        a_steps = [h['step'] for h in ref[1]['history'] if h['source'] == 'a']
        assert len({h['source'] for h in ref[1]['history']}) == 2 and a_steps[-1] > 1  # both sources used; a dies after step 1
        with pytest.raises(KeyboardInterrupt):
            _train(tmp_path/'cut', learner_fn, steps, fail_at=len(a_steps))  # dies in source a's last call
        assert load_checkpoint(tmp_path/'cut'/'last.pt')['state']['step'] == a_steps[-1] - 1
        resumed = _train(tmp_path/'cut', learner_fn, steps)
    assert resumed[1]['resumed_from'] == a_steps[-1] - 1
    assert _same(resumed, ref), f"the resumed run differs from the uninterrupted one on {DEVICE}"


# --- a tiny run end to end

@pytest.mark.cuda
@pytest.mark.parametrize('method,learner,settings', [('ssml', 'maml', ['5w1s', '5w5s']), ('lasium', 'protonet', ['5w1s', '5w5s', '20w1s', '20w5s'])],
                         ids=['ssml-maml', 'lasium-protonet'])
def test_tiny_run_end_to_end(tmp_path, monkeypatch, method, learner, settings):
    from ssml.config import RunArgs
    from ssml.data import make_omniglot_fixture
    from ssml.records import execute_run
    monkeypatch.setenv('SSML_CACHE', str(tmp_path/'cache'))
    root = make_omniglot_fixture(tmp_path/'data', image_size=8)
    args = RunArgs(method=method, meta_learner=learner, data_root=str(root), image_size=8, q_query=5, latent_dim=16, gen_steps=3,
                   gen_batch=32, meta_steps=3, val_every=3, n_val_tasks=5, inner_steps=1, test_inner_steps=2, n_test_tasks=10,
                   eval_settings=settings, device=DEVICE, progress=False, out_dir=str(tmp_path/'results'), work_dir=str(tmp_path/'runs'))
    rec = execute_run(args)
    assert rec['status'] == 'ok', f"{rec['error']}\n{rec['traceback']}"
    assert rec['device'].startswith(torch.device(DEVICE).type), rec['device']
    assert json.loads(Path(rec['record_path']).read_text())['status'] == 'ok'
    evals = rec['metrics']['evals']
    assert [f"{e['n_way']}w{e['k_shot']}s" for e in evals] == settings
    assert all(e['n_tasks'] == 10 and 0 <= e['accuracy'] <= 1 for e in evals), evals
    assert rec['metrics']['train']['step'] == 3 and rec['metrics']['generator']['steps'] == 3
