import numpy as np
import pytest
import torch

from instrid.errors import ParameterError
from instrid.models import all_models, count_parameters, create_model, get_entry
from instrid.models.hssanet import HarmonicStack, HSSANetConfig, harmonic_shifts

NETWORKS = [name for name, entry in all_models().items() if entry.kind == "torch"]


@pytest.mark.parametrize("name", NETWORKS)
def test_every_network_gives_finite_logits_and_learns_one_batch(name):
    torch.manual_seed(0)
    entry = get_entry(name)
    model = create_model(name, n_classes=5)
    batch = {k: torch.randn(shape) for k, shape in entry.input_shapes(2).items()}
    labels = torch.tensor([1, 3])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    losses = []
    for _ in range(3):
        loss = torch.nn.functional.cross_entropy(model(**batch), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        logits = model(**batch)
    assert logits.shape == (2, 5) and torch.isfinite(logits).all()
    assert losses[-1] < losses[0]  # gradients reach the parameters and point downhill


def test_parameter_counts_match_the_papers():
    assert count_parameters(create_model("cross_attention")) == 878_331  # cross-attention paper, Table 2
    assert count_parameters(create_model("han2017")) == 1_446_123  # Table 6: 1.446 M


def test_cross_attention_sizes_are_config():
    small = create_model("cross_attention", d_model=32, d_ff=64, d_head=32, mel_channels=(4, 8, 8), mask_channels=(4, 8, 8))
    assert count_parameters(small) < 50_000
    assert small(torch.randn(1, 1, 128, 100), torch.zeros(1, 1, 128, 100)).shape == (1, 11)


def test_unknown_model_names_the_choices():
    with pytest.raises(ParameterError, match="cross_attention"):
        create_model("transformer9000")
    with pytest.raises(ParameterError, match="no setting"):
        create_model("hssanet", d_model=3)


def test_harmonic_stack_lines_up_the_harmonics_of_a_note():
    """On the log-frequency axis, channel k at a note's fundamental bin holds the energy of its k-th harmonic."""
    config = HSSANetConfig()
    stack = HarmonicStack(config)
    torch.nn.init.zeros_(stack.phi.weight)  # uniform attention: each harmonic weighted 1/K
    torch.nn.init.zeros_(stack.phi.bias)
    f0_bin = 40  # 32.7 Hz * 2^(40/16) = 185 Hz
    x = torch.zeros(1, config.n_bins, 1)
    for k, shift in enumerate(harmonic_shifts(config), 1):
        x[0, f0_bin + shift] = float(k)  # harmonic k has "energy" k
    stack.to_log = torch.eye(config.n_bins)  # feed the log axis directly
    with torch.no_grad():
        out = stack(x[:, None]) * config.n_harmonics  # (1, K, F, 1), undo the 1/K
    assert harmonic_shifts(config)[:4] == [0, 16, 25, 32]  # octave = 16 bins, twelfth = 25, two octaves = 32
    np.testing.assert_allclose(out[0, :, f0_bin, 0].numpy(), np.arange(1, config.n_harmonics + 1), rtol=1e-6)
