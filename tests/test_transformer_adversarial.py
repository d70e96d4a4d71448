"""kit.models.transformer.adversarial: FGM and PGD perturb along the gradient and restore the embeddings."""

import torch
from torch import nn

from kit.models.transformer.adversarial import fgm_backward, pgd_backward


class TinyModel(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embedding = nn.Embedding(10, 4)
        self.out = nn.Linear(4, 2)

    def loss(self) -> torch.Tensor:
        ids, y = torch.tensor([1, 2, 3]), torch.tensor([0, 1, 0])
        return nn.functional.cross_entropy(self.out(self.embedding(ids)), y)


def clean_step(model):
    model.zero_grad()
    model.loss().backward()
    return model.embedding.weight.grad.clone(), model.out.weight.grad.clone()


def test_fgm_moves_epsilon_along_the_gradient_adds_its_loss_and_restores():
    model = TinyModel()
    before = model.embedding.weight.detach().clone()
    grad, clean_out_grad = clean_step(model)
    seen = []

    def adversarial_loss():
        seen.append(model.embedding.weight.detach() - before)
        return model.loss()

    assert fgm_backward(model.embedding.weight, grad, 0.5, adversarial_loss, lambda loss: loss.backward())
    torch.testing.assert_close(seen[0], 0.5 * grad / grad.norm())
    assert torch.equal(model.embedding.weight, before)
    assert not torch.allclose(model.out.weight.grad, clean_out_grad)  # the adversarial gradient was added


def test_pgd_stays_in_the_ball_keeps_clean_plus_last_gradient_and_restores():
    model = TinyModel()
    before = model.embedding.weight.detach().clone()
    grad, clean_out_grad = clean_step(model)
    params = list(model.parameters())
    deltas, last_grads = [], []

    def adversarial_loss():
        deltas.append(model.embedding.weight.detach() - before)
        loss = model.loss()
        last_grads.append(torch.autograd.grad(loss, model.out.weight, retain_graph=True)[0])
        return loss

    assert pgd_backward(model.embedding.weight, grad, 0.2, 0.15, 3, params, adversarial_loss,
                        lambda loss: loss.backward())
    assert len(deltas) == 3
    assert all(delta.norm() <= 0.2 + 1e-6 for delta in deltas)
    torch.testing.assert_close(deltas[0], 0.15 * grad / grad.norm())
    assert deltas[2].norm() > deltas[0].norm()  # it kept climbing until the ball's edge
    assert torch.equal(model.embedding.weight, before)
    torch.testing.assert_close(model.out.weight.grad, clean_out_grad + last_grads[-1])


def test_a_zero_gradient_skips_the_attack():
    model = TinyModel()
    called = []
    zero = torch.zeros_like(model.embedding.weight)
    assert not fgm_backward(model.embedding.weight, zero, 1.0, lambda: called.append(1), lambda loss: None)
    assert not pgd_backward(model.embedding.weight, zero, 1.0, 0.3, 3, [], lambda: called.append(1),
                            lambda loss: None)
    assert called == []
