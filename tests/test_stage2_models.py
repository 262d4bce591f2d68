"""Stage II models: the real SD 2.1-base sizes, the zero-initialised control branch, Modulate&Gate,
the ablation switches and the fidelity encoder (tiny prior except where the real config is built)."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("diffusers")

from accelerate import init_empty_weights  # noqa: E402

from rdrf_train.models.condition import CONDITIONS  # noqa: E402
from rdrf_train.models.control import ControlBranch, controlled_eps  # noqa: E402
from rdrf_train.models.fidelity import FidelityEncoder, decode_latent  # noqa: E402
from rdrf_train.models.modulate_gate import ModulateGate  # noqa: E402
from rdrf_train.prior import load_prior  # noqa: E402
from rdrf_train.stages.base import count_parameters  # noqa: E402
from schemas.errors import RdrfError  # noqa: E402


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny():
    return load_prior("tiny")


@pytest.fixture(scope="module")
def sd21():
    return load_prior("sd21-base-config")


def test_sd21_base_built_from_config_has_the_published_sizes(sd21):
    assert count_parameters(sd21.unet) == 865_910_724
    assert count_parameters(sd21.vae) == 83_653_863
    assert count_parameters(sd21.vae.encoder) == 34_163_592
    assert sd21.unet.config.cross_attention_dim == sd21.text_encoder.config.hidden_size == 1024
    assert all(p.is_meta for p in sd21.unet.parameters())  # no 3.5 GB allocated


def test_real_trainable_parameter_counts(sd21):
    with init_empty_weights():
        control = ControlBranch.from_unet(sd21.unet, "modulate_gate", load_weights=False)
        fidelity = FidelityEncoder.from_vae(sd21.vae, load_weights=False)
    # the UNet's encoder + middle block, a 12-channel conv_in, 13 zero convs, Modulate&Gate
    assert count_parameters(control) == 363_444_361
    assert count_parameters(control.modulate_gate) == 279_561
    assert len(control.zero_convs) == 12
    # the VAE encoder without its output head, a 6-channel conv_in, the gate, 4 zero convs
    assert count_parameters(fidelity) == 34_821_121


@pytest.mark.parametrize("condition", CONDITIONS)
def test_controlled_unet_predicts_exactly_the_frozen_unet_at_initialisation(tiny, condition):
    torch.manual_seed(0)
    control = ControlBranch.from_unet(tiny.unet, condition)
    z, c_s, c_lq = (torch.randn(2, 4, 8, 16) for _ in range(3))
    t = torch.tensor([3, 800])
    emb = tiny.prompt_embedding(2)
    with torch.no_grad():
        controlled = controlled_eps(tiny.unet, control, z, t, emb, c_s, c_lq)
        frozen = tiny.unet(z, t, encoder_hidden_states=emb).sample
    assert torch.equal(controlled, frozen)


def test_control_branch_is_a_copy_with_unet_weights_on_the_noisy_latent_slice(tiny):
    control = ControlBranch.from_unet(tiny.unet)
    w = control.conv_in.weight
    assert w.shape[1] == 12  # [c̄_s, c̄_lq, z_t]
    assert torch.equal(w[:, 8:], tiny.unet.conv_in.weight)
    assert torch.count_nonzero(w[:, :8]) == 0
    for mine, theirs in zip(control.down_blocks.state_dict().values(), tiny.unet.down_blocks.state_dict().values()):
        assert torch.equal(mine, theirs)
    assert len(control.zero_convs) + 1 == 13
    assert all(torch.count_nonzero(p) == 0 for m in [*control.zero_convs, control.zero_conv_mid] for p in m.parameters())
    assert all(p.requires_grad for p in control.parameters())
    assert not any(p.requires_grad for p in tiny.unet.parameters())


def test_gate_alpha_lies_in_unit_interval_and_splits_the_conditions():
    torch.manual_seed(0)
    mg = ModulateGate()
    c_s, c_lq, z = torch.randn(2, 4, 8, 8) * 50, torch.randn(2, 4, 8, 8) * 50, torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        c_s_bar, c_lq_bar, alpha = mg(c_s, c_lq, z)
        c_s_hat, c_lq_hat = mg.modulate_s(c_s, z), mg.modulate_lq(c_lq, z)
    assert alpha.shape == (2, 1, 8, 8)
    assert alpha.min() >= 0 and alpha.max() <= 1
    assert torch.allclose(c_s_bar, alpha * c_s_hat) and torch.allclose(c_lq_bar, (1 - alpha) * c_lq_hat)


def test_modulation_depends_on_the_noisy_latent():
    torch.manual_seed(0)
    mg = ModulateGate()
    c = torch.randn(1, 4, 8, 8)
    with torch.no_grad():
        a, b = mg.modulate_s(c, torch.randn(1, 4, 8, 8)), mg.modulate_s(c, torch.randn(1, 4, 8, 8))
    assert not torch.allclose(a, b)


def _perturbed(control: ControlBranch) -> ControlBranch:
    """Zero convs and condition slices made non-zero, so conditions can show in the output."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in [*control.zero_convs.parameters(), *control.zero_conv_mid.parameters()]:
            p.normal_(0, 0.1)
        control.conv_in.weight.normal_(0, 0.1)
    return control


def test_ablation_switches_change_the_graph_as_named(tiny):
    branches = {c: _perturbed(ControlBranch.from_unet(tiny.unet, c)) for c in CONDITIONS}
    assert branches["modulate_gate"].modulate_gate is not None
    assert all(branches[c].modulate_gate is None for c in ("concat", "lq", "s"))
    assert {c: b.conv_in.in_channels for c, b in branches.items()} == {"modulate_gate": 12, "concat": 12, "lq": 8, "s": 8}

    z, c_s, c_lq, other = (torch.randn(1, 4, 8, 8) for _ in range(4))
    emb = tiny.prompt_embedding(1)

    def mid(c, cs, clq):
        with torch.no_grad():
            return branches[c](z, 10, emb, cs, clq).mid_block_res_sample

    # Baseline 1 sees only I_lq, Baseline 2 only I_s; the two-condition modes see both
    assert torch.equal(mid("lq", c_s, c_lq), mid("lq", other, c_lq))
    assert torch.equal(mid("s", c_s, c_lq), mid("s", c_s, other))
    for c in ("modulate_gate", "concat"):
        assert not torch.allclose(mid(c, c_s, c_lq), mid(c, other, c_lq))
        assert not torch.allclose(mid(c, c_s, c_lq), mid(c, c_s, other))
    # concat puts the raw latents at the input; Modulate&Gate puts α·ĉ_s, (1-α)·ĉ_lq there
    x, alpha = branches["concat"].condition_input(z, c_s, c_lq)
    assert alpha is None and torch.equal(x, torch.cat([c_s, c_lq, z], 1))
    x, alpha = branches["modulate_gate"].condition_input(z, c_s, c_lq)
    assert alpha.shape == (1, 1, 8, 8) and not torch.equal(x[:, :4], c_s)
    with pytest.raises(ValueError, match="needs c_lq"):
        branches["lq"](z, 10, emb, c_s, None)
    with pytest.raises(ValueError):
        ControlBranch.from_unet(tiny.unet, "sum")


def test_fidelity_decoder_is_the_plain_vae_decoder_at_initialisation(tiny):
    fidelity = FidelityEncoder.from_vae(tiny.vae)
    gt, lq, i_s = (torch.rand(1, 3, 48, 64) for _ in range(3))
    z = tiny.encode(gt)
    with torch.no_grad():
        features, alpha = fidelity(lq, i_s, return_alpha=True)
        plain = tiny.vae.decode(z / tiny.scaling_factor).sample
        assert torch.equal(decode_latent(tiny.vae, z), plain)
        assert torch.equal(decode_latent(tiny.vae, z, features), plain)
    # features at the decoder's resolutions: after the middle block (H/8) and after up blocks 0-2
    assert [f.shape[-2:] for f in features] == [(6, 8), (12, 16), (24, 32), (48, 64)]
    assert alpha.min() >= 0 and alpha.max() <= 1
    # same architecture as the VAE encoder (besides conv_in), started from its weights
    assert torch.equal(fidelity.encoder.down_blocks[0].resnets[0].conv1.weight, tiny.vae.encoder.down_blocks[0].resnets[0].conv1.weight)
    assert fidelity.encoder.conv_in.in_channels == 6


def test_fidelity_features_reach_the_decoder_once_trained(tiny):
    fidelity = FidelityEncoder.from_vae(tiny.vae)
    with torch.no_grad():
        for conv in fidelity.zero_convs:
            conv.weight.normal_(0, 0.1)
    z = tiny.encode(torch.rand(1, 3, 32, 32))
    with torch.no_grad():
        a = decode_latent(tiny.vae, z, fidelity(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)))
    assert not torch.allclose(a, decode_latent(tiny.vae, z))


def test_tiny_prior_is_deterministic_frozen_and_round_trips_through_a_folder(tmp_path, tiny):
    again = load_prior("tiny", keep_text_encoder=True)
    assert all(torch.equal(a, b) for a, b in zip(tiny.unet.parameters(), again.unet.parameters()))
    assert torch.equal(tiny.empty_embedding, again.empty_embedding)
    assert tiny.empty_embedding.shape == (1, 77, 32)
    assert tiny.text_encoder is None  # dropped once the empty prompt is embedded

    again.save(tmp_path / "sd")
    loaded = load_prior(tmp_path / "sd")  # the diffusers-folder path a real SD 2.1-base takes
    assert torch.equal(loaded.empty_embedding, tiny.empty_embedding)
    assert all(torch.equal(a, b) for a, b in zip(loaded.vae.parameters(), tiny.vae.parameters()))
    assert not any(p.requires_grad for m in (loaded.unet, loaded.vae) for p in m.parameters())


def test_bad_prior_paths_are_named(tmp_path):
    with pytest.raises(RdrfError, match="nowhere"):
        load_prior(tmp_path / "nowhere")
    (tmp_path / "half" / "unet").mkdir(parents=True)
    with pytest.raises(RdrfError, match=r"missing vae/, text_encoder/, tokenizer/"):
        load_prior(tmp_path / "half")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(RdrfError, match="notes.txt"):
        load_prior(tmp_path / "notes.txt")


def test_info_model_counts_per_component_without_weights():
    from rdrf_train.stages.control import ControlConfig, ControlStage
    from rdrf_train.stages.fidelity import FidelityConfig, FidelityStage

    counts = ControlStage.parameter_counts(ControlConfig(), "sd21-base-config")
    assert counts["unet"] == {"trainable": 0, "frozen": 865_910_724}
    assert counts["control_branch"]["trainable"] + counts["modulate_gate"]["trainable"] == 363_444_361
    concat = ControlStage.parameter_counts(ControlConfig(model={"condition": "concat"}), "sd21-base-config")
    assert concat["modulate_gate"]["trainable"] == 0
    fidelity = FidelityStage.parameter_counts(FidelityConfig(), "sd21-base-config")
    assert fidelity["fidelity_encoder"]["trainable"] + fidelity["gate"]["trainable"] == 34_821_121
    assert fidelity["vae"]["frozen"] == 83_653_863
