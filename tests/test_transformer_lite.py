"""kit.models.transformer.lite: a kept plain-BERT backbone read without transformers gives the same token ids and
the same hidden states, to the last bit, as transformers does; any other backbone is left to transformers."""

import json

import pytest
import torch

from kit.models.transformer.backbone import build_scratch_backbone, load_backbone
from kit.models.transformer.lite import load_lite_backbone

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TEXTS = ["武汉加油！", "", "今天好难过，口罩买不到 #新冠肺炎# [哈哈]", "ABC abc Ünïcode 😀", "疫" * 80, "x y z 123"]


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    """A backbone saved as a fold job keeps it (save_pretrained of the model and of its tokenizer)."""
    root = tmp_path_factory.mktemp("lite")
    build_scratch_backbone(root / "scratch", TEXTS, layers=2, hidden=32, heads=2, max_position=64)
    tokenizer, model = load_backbone(root / "scratch")
    torch.manual_seed(0)
    with torch.no_grad():  # weights away from their initial values, as training leaves them
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    model.save_pretrained(root / "kept")
    tokenizer.save_pretrained(root / "kept")
    return root / "kept"


def test_the_same_token_ids_and_hidden_states_as_transformers(kept):
    lite_tokenizer, lite = load_lite_backbone(kept)
    tokenizer, model = load_backbone(kept)
    model.eval()
    ids = lite_tokenizer(TEXTS, truncation=True, max_length=24)["input_ids"]
    assert ids == tokenizer(TEXTS, truncation=True, max_length=24, return_attention_mask=False,
                            return_token_type_ids=False)["input_ids"]
    assert lite_tokenizer.pad_token_id == tokenizer.pad_token_id
    length = max(map(len, ids))
    input_ids = torch.tensor([row + [tokenizer.pad_token_id] * (length - len(row)) for row in ids])
    mask = torch.tensor([[1] * len(row) + [0] * (length - len(row)) for row in ids])
    with torch.no_grad():
        ours = lite(input_ids=input_ids, attention_mask=mask, output_hidden_states=True)
        theirs = model(input_ids=input_ids, attention_mask=mask, output_hidden_states=True)
    kept_rows = mask.bool()
    assert torch.equal(ours.last_hidden_state[kept_rows], theirs.last_hidden_state[kept_rows])
    assert torch.equal(ours.pooler_output, theirs.pooler_output)
    assert len(ours.hidden_states) == len(theirs.hidden_states) == 3
    for mine, reference in zip(ours.hidden_states, theirs.hidden_states):
        assert torch.equal(mine[kept_rows], reference[kept_rows])
    assert (lite.config.hidden_size, lite.config.num_hidden_layers) == (32, 2)


def test_another_architecture_activation_or_a_damaged_file_is_left_to_transformers(kept, tmp_path):
    for change in ({"model_type": "roberta"}, {"hidden_act": "relu"}, {"position_embedding_type": "relative_key"}):
        folder = tmp_path / next(iter(change.values()))
        folder.mkdir()
        for path in kept.iterdir():
            (folder / path.name).write_bytes(path.read_bytes())
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, **change}))
        assert load_lite_backbone(folder) is None
    assert load_lite_backbone(tmp_path / "missing") is None
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for path in kept.iterdir():
        (damaged / path.name).write_bytes(path.read_bytes())
    (damaged / "model.safetensors").write_bytes((kept / "model.safetensors").read_bytes()[:1000])
    assert load_lite_backbone(damaged) is None  # transformers' loader then reports the damage
