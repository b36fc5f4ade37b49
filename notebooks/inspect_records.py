# %% [markdown]
# # Inspect a Caravan record file
# Set PATH and KIND, then run the cells.

# %%
import sys

import polars as pl
import pyarrow.parquet as pq

from caravan.records import read_records
from caravan.records.provenance import Provenance

PATH = sys.argv[1] if len(sys.argv) > 1 else "data/sft.parquet"
KIND = sys.argv[2] if len(sys.argv) > 2 else "sft"

# %% Provenance: what command, config and inputs made this file
if PATH.endswith(".parquet"):
    print(Provenance.from_metadata(pq.read_schema(PATH).metadata))

# %% Load and validate
table = read_records(PATH, KIND)
df = pl.from_arrow(table)
print(df.shape)

# %% Turn counts and characters per role
col = "prompt" if KIND == "preference" else "messages"
turns = df.select(pl.col("id"), pl.col(col)).explode(col).unnest(col)
print(turns.group_by("role").agg(pl.len().alias("turns"), pl.col("content").str.len_chars().mean().alias("mean_chars")))

# %% Rows per source (SFT) or per verifier (RLVR)
if "source" in df.columns:
    print(df.group_by("source").len().sort("len", descending=True).head(20))
if "dataset" in df.columns:
    print(df.group_by("dataset").len())
