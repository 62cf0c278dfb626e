"""LoRA training (`modelcore.training.adapter`, `python -m modelcore.train adapter`) on the tiny preset with a
small word-level tokenizer built here; the trained adapter is checked in our bank and in `peft`."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch

from modelcore import ModelConfig, load_model, save_model
from modelcore.adapters import attach_lora_bank, load_adapter_weights, merge_adapter
from modelcore.train import main as train_main
from modelcore.training.adapter import TrainOptions, read_jsonl, tokenize_rows, train_adapter

transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")
tokenizers = pytest.importorskip("tokenizers")

WORDS = "the sky is blue grass green what color of fire red sea snow white answer please".split()
SPECIAL = ["<unk>", "<s>", "</s>", "<|user|>", "<|assistant|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m.role }}|> {{ m.content }} </s> {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|> {% endif %}"
)
FACTS = [("sky", "blue"), ("grass", "green"), ("fire", "red"), ("snow", "white"), ("sea", "blue")]


def write_tokenizer(directory: Path) -> None:
    """A word-level `tokenizers` tokenizer (ids < the tiny vocab of 320) with a chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {tok: i for i, tok in enumerate(SPECIAL + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.add_special_tokens(SPECIAL)
    tok.save(str(directory / "tokenizer.json"))
    config = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "chat_template": CHAT_TEMPLATE}
    (directory / "tokenizer_config.json").write_text(json.dumps(config))


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory) -> Path:
    """The tiny preset saved as a checkpoint directory, with the tokenizer next to it."""
    directory = tmp_path_factory.mktemp("base") / "tiny-base"
    save_model(load_model("tiny"), directory)
    write_tokenizer(directory)
    return directory


@pytest.fixture(scope="module")
def tokenizer(base_dir):
    from modelcore.tokenizer import load_tokenizer

    return load_tokenizer(base_dir)


@pytest.fixture(scope="module")
def data_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "facts.jsonl"
    rows = []
    for i in range(3):
        for thing, color in FACTS:
            if i < 2:
                rows.append({"prompt": f"what color is the {thing}", "completion": f"{color} {color}"})
            else:
                rows.append(
                    {
                        "messages": [
                            {"role": "user", "content": f"color of {thing} please"},
                            {"role": "assistant", "content": f"answer {color}"},
                        ]
                    }
                )
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def greedy(model, ids: list[int], n: int = 4) -> list[int]:
    out = list(ids)
    with torch.no_grad():
        for _ in range(n):
            out.append(int(model(torch.tensor([out]))[0, -1].argmax()))
    return out[len(ids) :]


FAST = TrainOptions(
    rank=4,
    alpha=8,
    target_modules=("q_proj", "v_proj", "down_proj"),
    lr=1e-2,
    epochs=3,
    batch_size=4,
    seed=0,
    val_fraction=0.2,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, base_dir, tokenizer, data_file):
    out = tmp_path_factory.mktemp("adapter") / "facts"
    model = load_model(base_dir)
    summary = train_adapter(
        model, tokenizer, data_file, out, options=FAST, base_name="tiny-base", progress=False
    )
    return out, summary


def test_training_lowers_loss_and_changes_output(trained, base_dir, tokenizer):
    out, summary = trained
    assert summary["steps"] == 9 and summary["epochs"] == 3  # 12 train rows / batch 4 * 3 epochs
    assert summary["val_examples"] == 3 and summary["train_examples"] == 12
    assert summary["val_losses"][-1] < summary["val_loss_before"]
    first, last = summary["train_losses"][0], summary["train_losses"][-1]
    assert last < first
    # the adapter changes the greedy continuation
    base = load_model(base_dir)
    prompt = tokenizer.encode("what color is the sky")
    merged = merge_adapter(copy.deepcopy(base), out)
    assert greedy(merged, prompt) != greedy(base, prompt)
    # files: PEFT format + our summary
    assert sorted(p.name for p in out.iterdir() if p.suffix in (".json", ".safetensors")) == [
        "adapter_config.json",
        "adapter_model.safetensors",
        "training_summary.json",
    ]
    saved = json.loads((out / "adapter_config.json").read_text())
    assert saved["base_model_name_or_path"] == "tiny-base" and saved["task_type"] == "CAUSAL_LM"
    assert saved["r"] == 4 and sorted(saved["target_modules"]) == ["down_proj", "q_proj", "v_proj"]
    written = json.loads((out / "training_summary.json").read_text())
    import hashlib

    data_hash = hashlib.sha256(Path(written["data"]).read_bytes()).hexdigest()
    assert written["data_sha256"] == data_hash and written["seed"] == 0


def test_trained_adapter_loads_in_peft(trained, base_dir):
    out, _ = trained
    ours = load_model(base_dir)
    # the base model is left untouched by training (peft's layers were taken out again)
    assert all(type(m).__module__.startswith(("torch", "modelcore")) for m in ours.modules())
    hf = transformers.LlamaForCausalLM(transformers.LlamaConfig(**ours.config.to_hf())).eval()
    hf.load_state_dict(ours.state_dict(), strict=True)
    model = peft.PeftModel.from_pretrained(hf, str(out))
    ids = torch.randint(0, 20, (2, 8), generator=torch.Generator().manual_seed(0))
    bank = attach_lora_bank(ours)
    slot = bank.load("facts", out)
    with torch.no_grad(), bank.use_rows(torch.tensor([slot, -1])):
        got = ours(ids)
        expected = model(input_ids=ids).logits
        with model.disable_adapter():
            base = model(input_ids=ids).logits
    torch.testing.assert_close(got[0], expected[0], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(got[1], base[1], atol=1e-4, rtol=1e-4)
    assert not torch.allclose(expected[0], base[0], atol=1e-3)


def test_model_left_unchanged_and_seeded(tmp_path, base_dir, tokenizer, data_file):
    model = load_model(base_dir)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opts = TrainOptions(rank=2, alpha=4, lr=1e-2, max_steps=2, seed=3, val_fraction=0.0)
    a = train_adapter(model, tokenizer, data_file, tmp_path / "a", options=opts, progress=False)
    b = train_adapter(model, tokenizer, data_file, tmp_path / "b", options=opts, progress=False)
    assert a["steps"] == 2 and a["train_losses"] == b["train_losses"] and a["val_losses"] == [None]
    assert list(model.state_dict()) == list(before)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert all(p.requires_grad for p in model.parameters())
    wa, wb = (
        load_adapter_weights(tmp_path / "a", model.config),
        load_adapter_weights(tmp_path / "b", model.config),
    )
    assert all(torch.equal(wa.factors[k][1], wb.factors[k][1]) for k in wa.factors)


def test_cli(tmp_path, base_dir, data_file, capsys):
    out = tmp_path / "cli"
    rc = train_main(
        [
            "adapter",
            "--base",
            str(base_dir),
            "--data",
            str(data_file),
            "--out",
            str(out),
            "--rank",
            "2",
            "--alpha",
            "4",
            "--target-modules",
            "q_proj,v_proj",
            "--max-steps",
            "2",
            "--batch-size",
            "2",
            "--seed",
            "1",
            "--no-progress",
        ]
    )
    assert rc == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["steps"] == 2
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(base_dir.resolve())
    load_adapter_weights(out, ModelConfig.from_name("tiny"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a", "completion": "b"}\n{"prompt": "a"\n')
    assert train_main(["adapter", "--base", str(base_dir), "--data", str(bad), "--out", str(out)]) == 2
    assert "line 2" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ('{"prompt": "a", "completion": "b"', "line 2: invalid JSON"),
        ('["prompt", "completion"]', "line 2: expected a JSON object"),
        ('{"prompt": "a"}', "line 2: expected keys"),
        ('{"prompt": "a", "completion": 3}', "line 2: .*strings"),
        ('{"messages": [{"role": "user", "content": "hi"}]}', "line 2: 'messages'"),
        (
            '{"messages": [{"role": "user", "content": "hi"}, {"role": "user", "content": "x"}]}',
            "line 2: the last",
        ),
        ('{"messages": [{"role": "user"}, {"role": "assistant", "content": "x"}]}', r"line 2: messages\[0\]"),
    ],
)
def test_bad_rows_name_the_line(tmp_path, tokenizer, line, match):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "the sky", "completion": "blue"}\n' + line + "\n")
    with pytest.raises(ValueError, match=match):
        tokenize_rows(read_jsonl(path), tokenizer, max_length=64, vocab_size=320)


def test_prompt_filling_max_length_is_an_error(tmp_path, tokenizer):
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps({"prompt": "the sky " * 20, "completion": "blue"}) + "\n")
    with pytest.raises(ValueError, match="line 1: the prompt alone"):
        tokenize_rows(read_jsonl(path), tokenizer, max_length=8, vocab_size=320)


def test_completion_labels(tmp_path, tokenizer):
    from modelcore.training.adapter import IGNORE, collate

    path = tmp_path / "x.jsonl"
    path.write_text(
        json.dumps({"prompt": "the sky is", "completion": "blue"})
        + "\n"
        + json.dumps(
            {"messages": [{"role": "user", "content": "sky"}, {"role": "assistant", "content": "blue"}]}
        )
        + "\n"
    )
    plain, chat = tokenize_rows(read_jsonl(path), tokenizer, max_length=64, vocab_size=320)
    eos = tokenizer.token_to_id("</s>")
    assert plain.ids[plain.n_prompt :] == (tokenizer.token_to_id("blue"), eos)
    assert chat.ids[chat.n_prompt :] == (tokenizer.token_to_id("blue"), eos)
    assert tokenizer.id_to_token(chat.ids[chat.n_prompt - 1]) == "<|assistant|>"
    ids, labels = collate([plain, chat])
    assert ids.shape == labels.shape == (2, max(len(plain.ids), len(chat.ids)))
    assert (labels[0, : plain.n_prompt] == IGNORE).all() and labels[0, plain.n_prompt] == ids[
        0, plain.n_prompt
    ]
