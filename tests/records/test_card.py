import datasets
from caravan.records import write_records
from caravan.records.card import MARKER


def test_card_describes_each_file_and_datasets_loads_the_folder(tmp_path, sft_rows, rlvr_rows):
    write_records(sft_rows, tmp_path / "sft.parquet", "sft")
    write_records(rlvr_rows, tmp_path / "rl.parquet", "rlvr")
    card = (tmp_path / "README.md").read_text()
    assert MARKER in card
    assert "## `sft.parquet`" in card and "## `rl.parquet`" in card
    assert "| `ground_truth` | `string` | What the verifier checks against. |" in card
    assert f"- rows: {len(rlvr_rows)}" in card
    # The YAML header's configs let `datasets` open the folder by config name.
    rl = datasets.load_dataset(str(tmp_path), "rl", split="train")
    assert rl.to_list() == rlvr_rows
    sft = datasets.load_dataset(str(tmp_path), "sft", split="train")
    assert sft.num_rows == len(sft_rows)


def test_single_file_folder_loads_as_default(tmp_path, preference_rows):
    write_records(preference_rows, tmp_path / "prefs.parquet", "preference")
    ds = datasets.load_dataset(str(tmp_path), split="train")
    assert ds.to_list() == preference_rows


def test_a_users_own_readme_is_left_alone(tmp_path, sft_rows):
    readme = tmp_path / "README.md"
    readme.write_text("# my notes\n")
    write_records(sft_rows, tmp_path / "sft.parquet", "sft")
    assert readme.read_text() == "# my notes\n"
    assert "## `sft.parquet`" in (tmp_path / "CARAVAN.md").read_text()
