import pytest
import torch

from piebench.config_schema import METHOD_SCHEMAS
from piebench.methods import METHODS
from piebench.models.prompt_text import TEXT_CLEANINGS, CleanedTokenizer, clean_prompt
from tests.conftest import method_config


def test_ftfy_cleaning_straightens_quotes_and_collapses_whitespace():
    assert (
        clean_prompt("A Man’s  “Face”\tﬁsh &amp; chips ", "ftfy") == 'a man\'s "face" fish & chips'
    )


def test_basic_cleaning_splits_punctuation_and_strips_accents():
    assert clean_prompt("A man's Café, close-up!", "basic") == "a man ' s cafe , close - up !"


def test_no_cleaning_keeps_the_text_and_unknown_cleanings_fail_early():
    assert clean_prompt("A Man’s face", "none") == "A Man’s face"
    with pytest.raises(ValueError, match="unknown text cleaning 'nfc'"):
        CleanedTokenizer(None, "nfc")


def test_the_schema_offers_every_cleaning():
    field = next(
        f for f in METHOD_SCHEMAS["ddim"].__dataclass_fields__.values() if f.name == "text_cleaning"
    )
    assert field.metadata["choices"] == TEXT_CLEANINGS


@pytest.mark.parametrize(
    "name, cleaning, same",
    [
        ("direct", "ftfy", ("a man’s face", "a man's face")),
        ("edict", "basic", ("a man's Café", "a man ' s cafe")),
    ],
)
def test_a_method_tokenizes_as_its_reference_environment(tiny_model, name, cleaning, same):
    method = METHODS.get(name)(tiny_model, method_config(name))
    assert method.model.tokenizer.cleaning == cleaning
    assert method.model.unet is tiny_model.unet  # a view: the networks are shared
    assert not isinstance(tiny_model.tokenizer, CleanedTokenizer)  # the shared model is untouched
    written, as_cleaned = method.model.encode_prompts(list(same))
    assert torch.equal(written, as_cleaned)


def test_cleaning_is_a_config_choice(tiny_model):
    method = METHODS.get("direct")(tiny_model, method_config("direct", text_cleaning="none"))
    curly, straight = method.model.encode_prompts(["a man’s face", "a man's face"])
    assert not torch.equal(curly, straight)
