"""The benchmark presets ``evaluate.benchmarks[].preset`` can name: preset -> where its problems come from.

``source`` picks the reader in ``qup/problems/benchmarks.py``: ``toy_ood`` builds the toy world's set;
``hf`` loads a hub dataset's ``split`` as the field's evaluation suites (Qwen2.5-Math's, lighteval) do,
with the ``problems`` shape and columns that read it. ``size``: its rows. A hub benchmark is one entry here.
"""

from __future__ import annotations

BENCHMARKS: dict[str, dict] = {
    # toy problems longer than any the SLM trained on (toy.max_steps + 1 and + 2 steps)
    "toy_ood": {"source": "toy_ood"},
    "gsm8k": {"source": "hf", "size": 1319, "dataset": "openai/gsm8k", "config": "main", "split": "test",
              "shape": "gsm8k"},
    "math500": {"source": "hf", "size": 500, "dataset": "HuggingFaceH4/MATH-500", "config": None, "split": "test",
                "shape": "math", "columns": {"answer": "answer", "id": "unique_id", "type": "subject"}},
    "aime24": {"source": "hf", "size": 30, "dataset": "HuggingFaceH4/aime_2024", "config": None, "split": "train",
               "shape": "columns", "columns": {"question": "problem", "solution": "solution"}},
    "aime25": {"source": "hf", "size": 30, "dataset": "math-ai/aime25", "config": None, "split": "test",
               "shape": "columns", "columns": {"question": "problem"}},
    "amc23": {"source": "hf", "size": 40, "dataset": "math-ai/amc23", "config": None, "split": "test",
              "shape": "columns"},
    "minerva": {"source": "hf", "size": 272, "dataset": "math-ai/minervamath", "config": None, "split": "test",
                "shape": "columns"},
    "olympiadbench": {"source": "hf", "size": 675, "dataset": "math-ai/olympiadbench", "config": None,
                      "split": "test", "shape": "columns", "columns": {"answer": "final_answer"}},
}
