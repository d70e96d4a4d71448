"""kit.models.transformer.lite: a kept plain-BERT backbone read without transformers gives the same token ids and
the same hidden states, to the last bit, as transformers does; any other backbone is left to transformers."""

import json

import pytest
import torch

from kit.models.transformer.backbone import load_backbone
from kit.models.transformer.lite import load_lite_backbone
from tests.conftest import BERT_TEXTS

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_the_same_token_ids_and_hidden_states_as_transformers(kept_bert):
    lite_tokenizer, lite = load_lite_backbone(kept_bert)
    tokenizer, model = load_backbone(kept_bert)
    model.eval()
    ids = lite_tokenizer(BERT_TEXTS, truncation=True, max_length=24)["input_ids"]
    assert ids == tokenizer(BERT_TEXTS, truncation=True, max_length=24, return_attention_mask=False,
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


def test_another_architecture_activation_or_a_damaged_file_is_left_to_transformers(kept_bert, tmp_path):
    for change in ({"model_type": "roberta"}, {"hidden_act": "relu"}, {"position_embedding_type": "relative_key"}):
        folder = tmp_path / next(iter(change.values()))
        folder.mkdir()
        for path in kept_bert.iterdir():
            (folder / path.name).write_bytes(path.read_bytes())
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, **change}))
        assert load_lite_backbone(folder) is None
    assert load_lite_backbone(tmp_path / "missing") is None
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for path in kept_bert.iterdir():
        (damaged / path.name).write_bytes(path.read_bytes())
    (damaged / "model.safetensors").write_bytes((kept_bert / "model.safetensors").read_bytes()[:1000])
    assert load_lite_backbone(damaged) is None  # transformers' loader then reports the damage
