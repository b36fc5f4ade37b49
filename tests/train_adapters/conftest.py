"""Training tests share the session-wide tiny Llama and small record files."""

import pytest
from caravan.records import write_records


def _m(role, content):
    return {"role": role, "content": content}


@pytest.fixture
def sft_file(tmp_path):
    rows = [
        {
            "id": f"s{i}",
            "source": "unit",
            "messages": [_m("user", f"What is {i} plus {i}?"), _m("assistant", f"It is {2 * i}.")],
        }
        for i in range(8)
    ]
    return write_records(rows, tmp_path / "data" / "sft.parquet", "sft")


@pytest.fixture
def pref_file(tmp_path):
    rows = [
        {
            "id": f"p{i}",
            "prompt": [_m("user", f"Name a number above {i}.")],
            "chosen": [_m("assistant", f"{i + 1} is above {i}.")],
            "rejected": [_m("assistant", "No.")],
            "score_chosen": 5.0,
            "score_rejected": 1.0,
        }
        for i in range(8)
    ]
    return write_records(rows, tmp_path / "data" / "prefs.parquet", "preference")


CPU_OVERRIDES = [
    "launch.num_processes=1",
    "effective_batch_size=4",
    "trl.per_device_train_batch_size=2",
    "trl.max_steps=2",
    "trl.logging_steps=1",
    "trl.save_steps=1",
    "trl.report_to=none",
]
SFT_OVERRIDES = [*CPU_OVERRIDES, "trl.max_length=128", "trl.packing=false"]
DPO_OVERRIDES = [*CPU_OVERRIDES, "trl.max_length=128"]
