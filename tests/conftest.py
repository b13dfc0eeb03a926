import os

# No test may reach a hub: the hub clients read these at import, so they are set before any import.
os.environ["HF_ENDPOINT"] = "http://127.0.0.1:9"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

import pytest  # noqa: E402

from qup.config import ToySLMParams  # noqa: E402
from qup.package_data import package_file  # noqa: E402
from qup.toy.tokenizer import build_char_tokenizer  # noqa: E402
from qup.toy.train_slm import build_model  # noqa: E402


def installed_file(package: str, relative: str):
    """A file inside an installed package; the test is skipped when the package is missing."""
    try:
        return package_file(package, relative)
    except ModuleNotFoundError as err:
        pytest.skip(str(err))


def save_untrained_slm(path, **params):
    """An untrained toy Llama and the char tokenizer, saved like a hub model."""
    tokenizer = build_char_tokenizer()
    build_model(tokenizer, ToySLMParams(**params), seed=0).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    return save_untrained_slm(tmp_path_factory.mktemp("tiny-slm"), hidden_size=32, intermediate_size=64,
                              num_layers=1, num_heads=2, head_dim=16)

