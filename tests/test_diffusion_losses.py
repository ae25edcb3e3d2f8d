"""Each diffusion method's loss on a hand-computed case.

The denoiser is a two-parameter line, ε(x_t, c) = a·x_t + b·m(c), where m(c) is one
number per prompt; noising is fixed (x_t = x_0 + 1, ε = 1) and ESD's partial
denoising returns x_t = 2. Every image of a set is the same, so random batches do not
change the numbers. Each expected value below is worked out by hand in its comment,
and each case is built so that the usual slip (the wrong prompt as target, the trained
model instead of the frozen original, the retain images instead of the anchor images,
the plain instead of the guided prediction) gives a different number.
"""

from types import SimpleNamespace

import pytest
import torch
from torch import nn

pytest.importorskip("diffusers")

from obliviate.core.registry import build  # noqa: E402
from obliviate.diffusion.loop import EraseData, Images  # noqa: E402
from obliviate.diffusion.models import Diffusion  # noqa: E402

# m(c) of every prompt the cases use
MEANING = {"": 0.0, "3": 2.0, "inverted": 1.0, "3 inverted": 2.0, "5 inverted": 3.0, "7 thick": 5.0}


class Line(nn.Module):
    def __init__(self, a: float, b: float):
        super().__init__()
        self.a, self.b = nn.Parameter(torch.tensor(a)), nn.Parameter(torch.tensor(b))

    def forward(self, x, t, encoder_hidden_states):
        m = encoder_hidden_states.mean(dim=(1, 2)).view(-1, 1, 1, 1)
        return SimpleNamespace(sample=self.a * x + self.b * m)


class FixedNoise(Diffusion):
    """x_t = x_0 + 1 with ε = 1 at t = 0; ESD's partial denoising gives x_t = 2."""

    def noisy(self, x0, generator, t=None):
        x0 = self.put(x0)
        return x0 + 1, torch.zeros(len(x0), dtype=torch.long), torch.ones_like(x0)

    def sample(self, emb, generator, steps=10, guidance=1.5, stop_after=None, batch_size=512):
        return torch.full((len(emb), 1, 1, 1), 2.0), torch.zeros(len(emb), dtype=torch.long)


def line_model(a: float = 2.0, b: float = 1.0) -> FixedNoise:
    encode = lambda prompts: torch.tensor([MEANING[p] for p in prompts]).view(-1, 1, 1)  # noqa: E731
    return FixedNoise(Line(a, b), encode, scheduler=None, latent_shape=(1, 1, 1))


def images(value: float, prompt: str, n: int = 4) -> Images:
    return Images(torch.full((n, 1, 1, 1), value), [prompt] * n)


def erase_data() -> EraseData:
    # forget: images of "3 inverted" (x_0 = 2), each with the substitute "5 inverted";
    # anchor: images of "inverted" (x_0 = 1), the ablated prompt "3 inverted";
    # retain: images of "7 thick" (x_0 = 0)
    return EraseData(concept="3", forget=images(2.0, "3 inverted"), substitutes=["5 inverted"] * 4,
                     anchor=images(1.0, "inverted"), ablated=["3 inverted"] * 4,
                     retain=images(0.0, "7 thick"), preserve=[], guide="")


def loss_of(method: str, model: FixedNoise, **hparams) -> float:
    algo = build(method, {"batch_size": 3, **hparams}, "diffusion")
    g = torch.Generator().manual_seed(0)
    data = erase_data()
    algo.setup(model, data, g)
    return algo.loss(model, data, g).item()


def test_esd_target_is_negative_guidance_from_the_frozen_original():
    # x_t = 2; original (a=2, b=1): ε*(∅) = 4, ε*("3") = 4 + 2 = 6
    # target = ε*(∅) − η·(ε*(c) − ε*(∅)) = 4 − 2η
    assert loss_of("esd", line_model()) == pytest.approx((6 - 2) ** 2)  # η = 1: (6 − 2)² = 16
    assert loss_of("esd", line_model(), eta=2.0) == pytest.approx((6 - 0) ** 2)  # η = 2: 36


def test_esd_target_does_not_follow_the_trained_model():
    model = line_model()
    algo = build("esd", {"batch_size": 3}, "diffusion")
    g = torch.Generator().manual_seed(0)
    data = erase_data()
    algo.setup(model, data, g)
    with torch.no_grad():
        model.unet.a.fill_(3.0)  # the trained model moves; the frozen original does not
    # prediction 3·2 + 2 = 8, target still 4 − (6 − 4) = 2: (8 − 2)² = 36; a target from the
    # moved model would be 6 − (8 − 6) = 4, giving (8 − 4)² = 16
    assert algo.loss(model, data, g).item() == pytest.approx(36.0)


def test_ca_pulls_the_ablated_prompt_to_the_anchor_prompt_on_anchor_images():
    # anchor x_0 = 1 → x_t = 2; ε("3 inverted") = 4 + 2 = 6, sg ε("inverted") = 4 + 1 = 5: (6 − 5)² = 1
    assert loss_of("ca", line_model(), prior_weight=0.0) == pytest.approx(1.0)
    # prior preservation: the anchor images' own denoising loss, (ε("inverted") − 1)² = (5 − 1)² = 16;
    # on the retain images instead it would be (2·1 + 5 − 1)² = 36
    assert loss_of("ca", line_model()) == pytest.approx(1.0 + 16.0)
    assert loss_of("ca", line_model(), prior_weight=0.5) == pytest.approx(1.0 + 8.0)


def test_salun_maps_the_forget_images_to_the_substitute_prompt():
    # forget x_0 = 2 → x_t = 3; ε("3 inverted") = 6 + 2 = 8, sg ε("5 inverted") = 6 + 3 = 9: 1
    # retain x_0 = 0 → x_t = 1; ε("7 thick") = 2 + 5 = 7, target ε = 1: (7 − 1)² = 36
    assert loss_of("salun", line_model()) == pytest.approx(1.0 + 36.0)
    assert loss_of("salun", line_model(), retain_weight=0.25) == pytest.approx(1.0 + 9.0)


def test_salun_mask_comes_from_the_guided_prediction():
    # guided prediction (1+w)·ε(c) − w·ε(∅) at x_t = 3, m(c) = 2, m(∅) = 0, w = 7.5:
    #   3a + 8.5·2·b = 6 + 17 = 23, residual r = 23 − 1 = 22
    #   ∂/∂a (r²) = 2·22·3 = 132, ∂/∂b = 2·22·17 = 748: b is the salient weight
    # plain prediction (w = 0): 3a + 2b = 8, r = 7, ∂/∂a = 42, ∂/∂b = 28: a would be chosen
    for w, expected in ((7.5, (132.0, 748.0)), (0.0, (42.0, 28.0))):
        model = line_model()
        algo = build("salun", {"mask_guidance": w}, "diffusion")
        forget = erase_data().forget
        algo.mask_loss(model, forget.latents[:2], forget.prompts[:2], torch.Generator()).backward()
        assert (model.unet.a.grad.item(), model.unet.b.grad.item()) == pytest.approx(expected)

    model = line_model()
    g = torch.Generator().manual_seed(0)
    for w, chosen in ((7.5, "b"), (0.0, "a")):
        algo = build("salun", {"mask_guidance": w, "keep": 0.5, "batch_size": 3, "saliency_batches": 2},
                     "diffusion")
        algo.setup(model, erase_data(), g)
        assert [n for n, m in algo.mask.items() if m.item()] == [chosen]


def test_ga_retain_ascends_the_forget_loss_up_to_its_bound():
    # forget: ε("3 inverted") at x_t = 3 is 8, (8 − 1)² = 49, clamped at max_forget_loss = 1
    # retain: (7 − 1)² = 36
    assert loss_of("ga_retain", line_model()) == pytest.approx(-1.0 + 36.0)
    assert loss_of("ga_retain", line_model(), max_forget_loss=100.0) == pytest.approx(-49.0 + 36.0)


def test_uce_maps_the_concept_to_the_guide_in_closed_form():
    # one key projection W (1×1) on the concept token c_e = 2 with guide c_g = 0 and no
    # preserved prompts: W' = λW / (λ + c_e²) = 0.5·3 / (0.5 + 4) = 1/3
    from obliviate.diffusion.methods.uce import uce_solution

    W = torch.tensor([[3.0]])
    new = uce_solution(W, torch.tensor([[2.0]]), torch.tensor([[0.0]]), torch.zeros(0, 1), 0.5, 1.0)
    assert new.item() == pytest.approx(1 / 3)
    # with the preserved token p = 1 (kept at W·p = 3):
    # W' = (λW + s·W p²) / (λ + c_e² + s p²) = (1.5 + 3) / (0.5 + 4 + 1) = 9/11
    new = uce_solution(W, torch.tensor([[2.0]]), torch.tensor([[0.0]]), torch.tensor([[1.0]]), 0.5, 1.0)
    assert new.item() == pytest.approx(9 / 11)
